"""Who may call what: scopes on every route, and documents that belong to their principal.

Another principal's document answers 404 on every path, exactly as an unknown id does;
`docs:read:all` sees every document, `admin` may change them; a request without a valid
token for the doc store never gets a 2xx and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import httpx

from eco_shared.auth import mint, new_signing_key
from eco_shared.testing.auth import TestAuth, token

DOC_STORE = "doc-store"
USER = ("docs:read", "docs:write")
EXPECTED_SCOPES = {
    ("post", "/documents"): ["docs:write"],
    ("get", "/documents"): ["docs:read"],
    ("get", "/documents/{document_id}"): ["docs:read"],
    ("put", "/documents/{document_id}"): ["docs:write"],
    ("delete", "/documents/{document_id}"): ["docs:write"],
    ("get", "/documents/{document_id}/versions"): ["docs:read"],
    ("get", "/documents/{document_id}/download"): ["docs:read"],
    ("get", "/documents/{document_id}/provenance"): ["docs:read"],
}
CREATE = {"title": "Ledger", "format": "markdown", "content": "# ledger of alice"}


def user(name: str, scopes: Iterable[str] = USER) -> TestAuth:
    return TestAuth(DOC_STORE, scopes, subject=f"user:{name}")


ALICE, BOB = user("alice"), user("bob")


async def alices_document(client: httpx.AsyncClient) -> dict[str, Any]:
    body = {**CREATE, "provenance": {"workflow_execution": {"execution_id": "run-a"}}}
    created = await client.post("/documents", json=body, auth=ALICE)
    assert created.status_code == 201, created.text
    doc: dict[str, Any] = created.json()
    assert doc["owner"] == "user:alice"
    return doc


def every_read(document_id: str) -> list[tuple[str, dict[str, Any]]]:
    base = f"/documents/{document_id}"
    return [
        (base, {}),
        (base, {"version": 1}),
        (f"{base}/versions", {}),
        (f"{base}/download", {}),
        (f"{base}/download", {"format": "zip"}),
        (f"{base}/provenance", {}),
        (f"{base}/provenance", {"format": "prov-json"}),
    ]


async def search_ids(client: httpx.AsyncClient, auth: httpx.Auth, **params: Any) -> list[str]:
    page = await client.get("/documents", params={"page_size": 100, **params}, auth=auth)
    assert page.status_code == 200, page.text
    return [d["id"] for d in page.json()["items"]]


async def test_another_principals_document_is_not_found_anywhere(
    client: httpx.AsyncClient,
) -> None:
    doc = await alices_document(client)
    unknown = str(uuid.uuid4())
    for path, params in every_read(doc["id"]):
        theirs = await client.get(path, params=params, auth=BOB)
        nobody = await client.get(path.replace(doc["id"], unknown), params=params, auth=BOB)
        assert theirs.status_code == nobody.status_code == 404, (path, params)
        # the same answer as for an id that does not exist: nothing tells them apart
        mine, missing = theirs.json(), nobody.json()
        assert (mine["title"], mine["type"]) == (missing["title"], missing["type"])
        assert mine["detail"] == missing["detail"].replace(unknown, doc["id"])
        assert (await client.get(path, params=params, auth=ALICE)).status_code == 200
    assert doc["id"] not in await search_ids(client, BOB)
    assert doc["id"] not in await search_ids(client, BOB, q="ledger")
    assert await search_ids(client, BOB, owner="user:alice") == []
    assert doc["id"] in await search_ids(client, ALICE, q="ledger")

    update = await client.put(f"/documents/{doc['id']}", json={"content": "bob was here"}, auth=BOB)
    assert update.status_code == 404
    assert update.json()["title"] == "Document not found"
    assert (await client.delete(f"/documents/{doc['id']}", auth=BOB)).status_code == 404
    kept = (await client.get(f"/documents/{doc['id']}", auth=ALICE)).json()
    assert (kept["latest_version"], kept["deleted_at"], kept["content"]) == (
        1,
        None,
        "# ledger of alice",
    )
    # Deleted, it stays unknown to bob: no `deleted_at` tells him it ever existed.
    assert (await client.delete(f"/documents/{doc['id']}", auth=ALICE)).status_code == 204
    gone = await client.get(f"/documents/{doc['id']}", auth=BOB)
    assert (gone.status_code, gone.json()["title"]) == (404, "Document not found")
    assert "deleted_at" not in gone.json()
    seen_by_alice = await client.get(f"/documents/{doc['id']}", auth=ALICE)
    assert seen_by_alice.json()["title"] == "Document deleted"


async def test_read_all_sees_every_document_and_only_admin_changes_others(
    client: httpx.AsyncClient,
) -> None:
    alices = await alices_document(client)
    bobs = (await client.post("/documents", json=CREATE, auth=BOB)).json()
    auditor = user("auditor", ["docs:read:all", "docs:write"])
    everyone = await search_ids(client, auditor, q="ledger")
    assert {alices["id"], bobs["id"]} <= set(everyone)
    assert await search_ids(client, auditor, q="ledger", owner="user:bob") == [bobs["id"]]
    assert await search_ids(client, BOB, q="ledger") == [bobs["id"]]
    assert await search_ids(client, BOB, q="ledger", owner="user:bob") == [bobs["id"]]
    for path, params in every_read(alices["id"]):
        assert (await client.get(path, params=params, auth=auditor)).status_code == 200, path
    seen = (await client.get(f"/documents/{alices['id']}", auth=auditor)).json()
    assert seen["owner"] == "user:alice"

    # Seeing is not changing: only the owner, or an admin, writes a document.
    refused = await client.put(f"/documents/{alices['id']}", json={"content": "x"}, auth=auditor)
    assert refused.status_code == 403
    assert refused.json()["missing_scopes"] == ["admin"]
    assert (await client.delete(f"/documents/{alices['id']}", auth=auditor)).status_code == 403
    admin = TestAuth(DOC_STORE, ["admin"], subject="user:root")
    edited = await client.put(f"/documents/{alices['id']}", json={"content": "fixed"}, auth=admin)
    assert edited.status_code == 200
    assert (edited.json()["owner"], edited.json()["version"]) == ("user:alice", 2)
    record = (await client.get(f"/documents/{alices['id']}/provenance", auth=ALICE)).json()
    assert record["principal"] == "user:root"  # the version says who wrote it
    assert (await client.delete(f"/documents/{bobs['id']}", auth=admin)).status_code == 204
    assert (await client.get(f"/documents/{bobs['id']}", auth=BOB)).status_code == 404


async def test_read_only_tokens_cannot_write(client: httpx.AsyncClient) -> None:
    doc = await alices_document(client)
    reader = user("alice", ["docs:read"])
    attempts = [
        await client.post("/documents", json=CREATE, auth=reader),
        await client.put(f"/documents/{doc['id']}", json={"content": "x"}, auth=reader),
        await client.delete(f"/documents/{doc['id']}", auth=reader),
    ]
    for response in attempts:
        assert response.status_code == 403, response.text
        assert response.json()["missing_scopes"] == ["docs:write"]
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert await search_ids(client, reader) == [doc["id"]]  # nothing stored, nothing deleted
    assert (await client.get(f"/documents/{doc['id']}", auth=reader)).json()["latest_version"] == 1
    writer = user("alice", ["docs:write"])
    assert (await client.get(f"/documents/{doc['id']}", auth=writer)).status_code == 403


class Header(httpx.Auth):
    """A fixed Authorization header (or none), instead of the client's own token."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def auth_flow(self, request: httpx.Request) -> Any:
        if self.value is not None:
            request.headers["Authorization"] = self.value
        yield request


def bad_credentials() -> dict[str, Header]:
    stranger_key = new_signing_key()
    foreign = mint(stranger_key, subject="user:alice", audience=DOC_STORE, scopes={"admin"})
    return {
        "none": Header(None),
        "another audience": Header(f"Bearer {token('discovery')}"),
        "expired": Header(f"Bearer {token(DOC_STORE, lifetime_s=-60)}"),
        "unknown signing key": Header(f"Bearer {foreign}"),
        "not a JWT": Header("Bearer not-a-token"),
        "not bearer": Header("Basic YWxpY2U6c2VjcmV0"),
    }


async def test_without_a_valid_token_nothing_answers_and_nothing_changes(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json", auth=Header(None))).json()
    operations = {
        (method, path): op.get("x-eco-scopes")
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if not op.get("x-eco-public")
    }
    assert operations == EXPECTED_SCOPES
    doc = await alices_document(client)
    before = (await client.get("/documents", params={"page_size": 100})).json()
    bodies = {"post": CREATE, "put": {"content": "overwritten"}}
    for (method, path), _ in sorted(operations.items()):
        url = path.replace("{document_id}", doc["id"])
        for name, auth in bad_credentials().items():
            response = await client.request(method, url, json=bodies.get(method), auth=auth)
            assert response.status_code == 401, (method, path, name, response.text)
            assert 'error="invalid_token"' in response.headers["www-authenticate"]
    after = (await client.get("/documents", params={"page_size": 100})).json()
    assert after == before
    kept = (await client.get(f"/documents/{doc['id']}", auth=ALICE)).json()
    assert (kept["latest_version"], kept["deleted_at"]) == (1, None)


async def test_a_claimed_user_id_does_not_make_an_owner(client: httpx.AsyncClient) -> None:
    body = {
        **CREATE,
        "title": "Claimed",
        "provenance": {"user_context": {"user_id": "bob", "query": "whose is this?"}},
    }
    created = await client.post("/documents", json=body, auth=ALICE)
    assert created.status_code == 201
    doc = created.json()
    assert doc["owner"] == "user:alice"
    record = (await client.get(f"/documents/{doc['id']}/provenance", auth=ALICE)).json()
    assert record["principal"] == "user:alice"
    assert record["user_context"]["claimed_user_id"] == "bob"
    assert record["user_context"]["user_id"] == "alice"
    assert (await client.get(f"/documents/{doc['id']}", auth=BOB)).status_code == 404
    assert doc["id"] not in await search_ids(client, BOB, q="claimed")
    # A body's own `user_id` is the same kind of claim.
    body = {**CREATE, "title": "Claimed too", "user_id": "bob"}
    created = await client.post("/documents", json=body, auth=ALICE)
    assert created.status_code == 201, created.text
    assert created.json()["owner"] == "user:alice"
    record = (await client.get(f"/documents/{created.json()['id']}/provenance", auth=ALICE)).json()
    assert record["user_context"] == {
        "user_id": "alice",
        "claimed_user_id": "bob",
        "query": None,
        "intent": None,
        "entities": None,
    }
    assert (await client.get(f"/documents/{created.json()['id']}", auth=BOB)).status_code == 404
    bad = await client.post("/documents", json={**body, "user_id": "b\u0000b"}, auth=ALICE)
    assert bad.status_code == 422


async def test_idempotency_keys_belong_to_their_principal(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    first = await client.post("/documents", json=CREATE, headers=headers, auth=ALICE)
    second = await client.post("/documents", json=CREATE, headers=headers, auth=BOB)
    assert (first.status_code, second.status_code) == (201, 201)
    assert "idempotent-replayed" not in second.headers  # bob is not handed alice's document
    assert (first.json()["owner"], second.json()["owner"]) == ("user:alice", "user:bob")
    assert first.json()["id"] != second.json()["id"]
    replay = await client.post("/documents", json=CREATE, headers=headers, auth=BOB)
    assert (replay.headers["idempotent-replayed"], replay.json()["id"]) == (
        "true",
        second.json()["id"],
    )
    # another body under bob's key: a conflict that names bob's document, never alice's
    other = await client.post(
        "/documents", json={**CREATE, "title": "Other"}, headers=headers, auth=BOB
    )
    assert (other.status_code, other.json()["document_id"]) == (409, second.json()["id"])

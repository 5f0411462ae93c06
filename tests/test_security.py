"""Identity and access across the whole ecosystem, as real processes on a private Redis.

Every protected route of every service refuses callers without a valid token for it (and
nothing stored changes); one user never sees another's documents or runs; a revoked API key
is refused by every service within 30 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from eco_shared.auth import ApiKeyTokens, TokenError
from eco_shared.testing.auth import TestAuth, session_material, token
from eco_shared.testing.ecosystem import SERVICES, PrivateEcosystem

# the module's ecosystem starts within the first test's time
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

METHODS = ("get", "post", "put", "patch", "delete")
USER_SCOPES = ["docs:read", "docs:write", "runs:create", "runs:read", "runs:write"]
# one cheap protected read per service, and the scope it needs
READS = {
    "discovery": ("/services", "discovery:read"),
    "doc-store": ("/documents", "docs:read"),
    "orchestrator": ("/runs", "runs:read"),
    "llm-gateway": ("/v1/usage", "gateway:read"),
    "log-collector": ("/logs", "logs:read"),
}


@pytest.fixture(scope="module")
def eco(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateEcosystem]:
    ecosystem = PrivateEcosystem(tmp_path_factory.mktemp("security")).start()
    try:
        yield ecosystem
    finally:
        ecosystem.stop()


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def _stored(eco: PrivateEcosystem) -> dict[str, Any]:
    """What an admin sees stored: documents, runs, registrations."""
    admin = {name: TestAuth(name) for name in SERVICES}
    docs = httpx.get(eco.url("doc-store") + "/documents", auth=admin["doc-store"], timeout=10)
    runs = httpx.get(eco.url("orchestrator") + "/runs", auth=admin["orchestrator"], timeout=10)
    services = httpx.get(eco.url("discovery") + "/services", auth=admin["discovery"], timeout=10)
    for response in (docs, runs, services):
        assert response.status_code == 200, response.text
    # the listing counts instances; each service's own page lists them
    instances = []
    for service in services.json()["services"]:
        page = httpx.get(
            f"{eco.url('discovery')}/services/{service['name']}",
            auth=admin["discovery"],
            timeout=10,
        )
        assert page.status_code == 200, page.text
        instances += [
            (i["instance_id"], i["name"], i["base_url"]) for i in page.json()["instances"]
        ]
    return {
        "documents": sorted(d["id"] for d in docs.json()["items"]),
        "runs": sorted(r["run_id"] for r in runs.json()["items"]),
        "instances": sorted(instances),
    }


def test_no_protected_route_answers_a_caller_without_a_token_for_it(
    eco: PrivateEcosystem,
) -> None:
    # something stored first, so that a route that leaked could change it
    created = httpx.post(
        eco.url("doc-store") + "/documents",
        json={"title": "kept", "content": "unchanged", "format": "markdown"},
        auth=TestAuth("doc-store"),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    before = _stored(eco)
    checked = 0
    for name in SERVICES:
        base = eco.url(name)
        spec = httpx.get(base + "/openapi.json", timeout=10).json()
        other = "doc-store" if name != "doc-store" else "orchestrator"
        callers: list[tuple[str, httpx.Auth | None]] = [
            ("no token", None),
            ("a token for another service", TestAuth(other)),
            ("an expired token", _Fixed(token(name, lifetime_s=-60))),
        ]
        for method, path, operation in _operations(spec):
            if operation.get("x-eco-public"):
                continue
            url = base + re.sub(r"{[^}]+}", created.json()["id"], path)
            body = {} if "requestBody" in operation else None
            for label, auth in callers:
                response = httpx.request(method, url, json=body, auth=auth, timeout=10)
                assert response.status_code == 401, (name, method, path, label, response.text)
                assert response.headers["www-authenticate"].startswith("Bearer")
                checked += 1
    assert checked > 100  # every service's protected routes, three callers each
    assert _stored(eco) == before


class _Fixed(httpx.Auth):
    def __init__(self, value: str) -> None:
        self.value = value

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self.value}"
        yield request


def test_one_user_never_sees_another_users_documents_or_runs(eco: PrivateEcosystem) -> None:
    ann = {n: TestAuth(n, USER_SCOPES, subject="user:ann") for n in SERVICES}
    bob = {n: TestAuth(n, USER_SCOPES, subject="user:bob") for n in SERVICES}
    docs = eco.url("doc-store")
    mine = httpx.post(
        docs + "/documents",
        json={"title": "ann's", "content": "private", "format": "markdown", "user_id": "bob"},
        auth=ann["doc-store"],
        timeout=10,
    )
    assert mine.status_code == 201, mine.text
    doc_id = mine.json()["id"]
    for path in ("", "/versions", "/download", "/provenance"):
        assert (
            httpx.get(f"{docs}/documents/{doc_id}{path}", auth=ann["doc-store"]).status_code == 200
        )
        theirs = httpx.get(f"{docs}/documents/{doc_id}{path}", auth=bob["doc-store"])
        assert theirs.status_code == 404, (path, theirs.text)
    listed = httpx.get(f"{docs}/documents", auth=bob["doc-store"]).json()["items"]
    assert doc_id not in {d["id"] for d in listed}
    own = httpx.get(f"{docs}/documents", auth=ann["doc-store"]).json()["items"]
    assert doc_id in {d["id"] for d in own}
    assert httpx.delete(f"{docs}/documents/{doc_id}", auth=bob["doc-store"]).status_code == 404
    # the body's user_id is only a claim: the owner is the token's subject
    assert httpx.get(f"{docs}/documents/{doc_id}", auth=ann["doc-store"]).status_code == 200

    orch = eco.url("orchestrator")
    run = httpx.post(
        orch + "/queries",
        json={"query": "List the registered services", "user_id": "bob"},
        auth=ann["orchestrator"],
        timeout=30,
    )
    assert run.status_code == 202, run.text
    run_id = run.json()["run_id"]
    assert httpx.get(f"{orch}/runs/{run_id}", auth=ann["orchestrator"]).status_code == 200
    assert httpx.get(f"{orch}/runs/{run_id}", auth=bob["orchestrator"]).status_code == 404
    listed_runs = httpx.get(f"{orch}/runs", auth=bob["orchestrator"]).json()["items"]
    assert run_id not in {r["run_id"] for r in listed_runs}
    own_runs = httpx.get(f"{orch}/runs", auth=ann["orchestrator"]).json()["items"]
    assert run_id in {r["run_id"] for r in own_runs}
    cancel = httpx.post(f"{orch}/runs/{run_id}/cancel", auth=bob["orchestrator"])
    assert cancel.status_code == 404


async def test_a_revoked_key_is_refused_by_every_service_within_30_s(
    eco: PrivateEcosystem,
) -> None:
    admin_key = session_material().admin_key()
    assert admin_key is not None
    issuer = eco.url("discovery")
    async with contextlib.AsyncExitStack() as stack:

        def tokens_for(api_key: str) -> ApiKeyTokens:
            source = ApiKeyTokens(issuer, api_key)
            stack.push_async_callback(source.aclose)
            return source

        admin = tokens_for(admin_key.value)
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        created = await http.post(
            issuer + "/auth/keys",
            json={"name": "revoke-me", "scopes": sorted({s for _, s in READS.values()})},
            headers={"Authorization": f"Bearer {await admin.token_for('discovery')}"},
        )
        assert created.status_code == 201, created.text
        key = created.json()
        user = tokens_for(key["key"])
        tokens = {name: await user.token_for(name) for name in READS}

        async def status(name: str) -> int:
            path = READS[name][0]
            response = await http.get(
                eco.url(name) + path, headers={"Authorization": f"Bearer {tokens[name]}"}
            )
            return response.status_code

        assert {name: await status(name) for name in READS} == dict.fromkeys(READS, 200)
        revoked = await http.delete(
            f"{issuer}/auth/keys/{key['key_id']}",
            headers={"Authorization": f"Bearer {await admin.token_for('discovery')}"},
        )
        assert revoked.status_code in (200, 204), revoked.text
        started = time.monotonic()
        refused: dict[str, float] = {}
        while len(refused) < len(READS) and time.monotonic() - started < 35:
            for name in READS:
                if name not in refused and await status(name) == 401:
                    refused[name] = time.monotonic() - started
            await asyncio.sleep(0.5)
        assert set(refused) == set(READS), refused
        assert max(refused.values()) <= 30, refused
        # and no new token can be had for it
        with pytest.raises(TokenError, match="refused") as refusal:
            await tokens_for(key["key"]).token_for("doc-store")
        assert refusal.value.error == "invalid_grant"

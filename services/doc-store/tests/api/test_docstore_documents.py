"""`/documents` over real HTTP on SQLite (and PostgreSQL): round trips, versions, limits."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from eco_shared.testing.auth import TestAuth

DOC_STORE = "doc-store"

PROBLEM = "application/problem+json"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"title": "A title", "format": "markdown", "content": "# Hello", **fields}
    response = await client.post("/documents", json=body)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


async def test_create_returns_201_location_and_hash(client: httpx.AsyncClient) -> None:
    text = "# Report\n\nNumbers: 1, 2, 3 — ünïcödé ✓\n"
    response = await client.post(
        "/documents",
        json={
            "title": "Quarterly report",
            "format": "markdown",
            "content": text,
            "metadata": {"team": "docs", "tags": ["a", "b"]},
        },
    )
    assert response.status_code == 201
    doc = response.json()
    assert response.headers["location"] == f"/documents/{doc['id']}"
    assert doc["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert doc["size_bytes"] == len(text.encode())
    assert doc["version"] == doc["latest_version"] == 1
    assert doc["content_type"] == "text/markdown; charset=utf-8"
    assert doc["metadata"] == {"team": "docs", "tags": ["a", "b"]}
    assert doc["deleted_at"] is None
    fetched = (await client.get(response.headers["location"])).json()
    assert fetched == doc


async def test_pdf_round_trips_byte_for_byte(
    shared_client: httpx.AsyncClient, make_pdf: Callable[[str], bytes]
) -> None:
    pdf = make_pdf("Provenance matters")
    assert pdf.startswith(b"%PDF-1.4")
    assert b"\xe2\xe3\xcf\xd3" in pdf
    doc = await create(
        shared_client,
        title="Résumé 2025",
        format="pdf",
        content=b64(pdf),
        content_encoding="base64",
    )
    response = await shared_client.get(f"/documents/{doc['id']}/download")
    assert response.status_code == 200
    assert response.content == pdf
    assert response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="R_sum_ 2025.pdf"')
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%202025.pdf" in disposition
    assert response.headers["etag"] == f'"{hashlib.sha256(pdf).hexdigest()}"'
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_csv_with_unicode_round_trips_byte_for_byte(shared_client: httpx.AsyncClient) -> None:
    csv_text = 'city,name,note\r\nZürich,Jürg,"quoted, comma"\r\n東京,太郎,😀\r\nKraków,Łukasz,\r\n'
    doc = await create(shared_client, title="cities", format="csv", content=csv_text)
    response = await shared_client.get(f"/documents/{doc['id']}/download")
    assert response.content == csv_text.encode("utf-8")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="cities.csv"' in response.headers["content-disposition"]


@pytest.mark.parametrize(
    ("fmt", "content_type", "ext"),
    [
        ("json", "application/json", "json"),
        ("txt", "text/plain; charset=utf-8", "txt"),
        ("html", "text/html; charset=utf-8", "html"),
        ("markdown", "text/markdown; charset=utf-8", "md"),
    ],
)
async def test_every_text_format_has_its_content_type(
    shared_client: httpx.AsyncClient, fmt: str, content_type: str, ext: str
) -> None:
    doc = await create(shared_client, title="x", format=fmt, content='{"a": 1}')
    response = await shared_client.get(f"/documents/{doc['id']}/download")
    assert response.headers["content-type"] == content_type
    assert f'filename="x.{ext}"' in response.headers["content-disposition"]


async def test_versions_keep_old_content_and_carry_fields_over(
    client: httpx.AsyncClient, make_pdf: Callable[[str], bytes]
) -> None:
    doc = await create(client, title="Plan", content="v1 text", metadata={"k": 1})
    put = await client.put(f"/documents/{doc['id']}", json={"content": "v2 text"})
    assert put.status_code == 200
    v2 = put.json()
    assert v2["version"] == v2["latest_version"] == 2
    assert (v2["title"], v2["format"], v2["metadata"]) == ("Plan", "markdown", {"k": 1})
    assert v2["created_at"] == doc["created_at"]
    pdf = make_pdf("third")
    v3 = (
        await client.put(
            f"/documents/{doc['id']}",
            json={
                "title": "Plan (PDF)",
                "format": "pdf",
                "content": b64(pdf),
                "content_encoding": "base64",
                "metadata": {"k": 3},
            },
        )
    ).json()
    assert (v3["version"], v3["title"], v3["format"], v3["metadata"]) == (
        3,
        "Plan (PDF)",
        "pdf",
        {"k": 3},
    )

    async def download(version: int | None) -> httpx.Response:
        params = {} if version is None else {"version": version}
        return await client.get(f"/documents/{doc['id']}/download", params=params)

    assert (await download(1)).content == b"v1 text"
    assert (await download(2)).content == b"v2 text"
    latest = await download(None)
    assert latest.content == pdf
    assert latest.headers["content-type"] == "application/pdf"
    assert (await download(1)).headers["content-type"] == "text/markdown; charset=utf-8"

    v1 = (await client.get(f"/documents/{doc['id']}", params={"version": 1})).json()
    assert (v1["version"], v1["latest_version"], v1["sha256"]) == (1, 3, doc["sha256"])
    current = (await client.get(f"/documents/{doc['id']}")).json()
    assert current["version"] == 3

    listing = (await client.get(f"/documents/{doc['id']}/versions")).json()
    assert listing["total"] == 3
    assert [v["version"] for v in listing["items"]] == [3, 2, 1]
    assert listing["items"][2]["sha256"] == hashlib.sha256(b"v1 text").hexdigest()
    page2 = (await client.get(f"/documents/{doc['id']}/versions?page=2&page_size=2")).json()
    assert [v["version"] for v in page2["items"]] == [1]


async def test_concurrent_versions_get_distinct_numbers(client: httpx.AsyncClient) -> None:
    doc = await create(client, content="base")
    responses = await asyncio.gather(
        *(client.put(f"/documents/{doc['id']}", json={"content": f"edit {i}"}) for i in range(10))
    )
    assert [r.status_code for r in responses] == [200] * 10
    assert sorted(r.json()["version"] for r in responses) == list(range(2, 12))
    listing = (await client.get(f"/documents/{doc['id']}/versions?page_size=100")).json()
    assert listing["total"] == 11
    for i, response in enumerate(responses):
        number = response.json()["version"]
        got = await client.get(f"/documents/{doc['id']}/download?version={number}")
        assert got.content == f"edit {i}".encode()


async def test_idempotent_create_under_20_concurrent_requests(client: httpx.AsyncClient) -> None:
    body = {"title": "Once", "format": "txt", "content": "only one of me", "metadata": {"n": 1}}
    headers = {"Idempotency-Key": "create-once-7f3a"}
    responses = await asyncio.gather(
        *(client.post("/documents", json=body, headers=headers) for _ in range(20))
    )
    assert [r.status_code for r in responses] == [201] * 20
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    replays = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    assert len(replays) == 19
    (document_id,) = ids
    assert {r.headers["location"] for r in responses} == {f"/documents/{document_id}"}
    found = (await client.get("/documents", params={"q": "only one"})).json()
    assert found["total"] == 1
    # A retry later, after a new version, still answers with the first result.
    first = responses[0].json()
    await client.put(f"/documents/{first['id']}", json={"content": "changed"})
    again = await client.post("/documents", json=body, headers=headers)
    assert again.status_code == 201
    assert (again.json()["id"], again.json()["version"]) == (first["id"], 1)


async def test_idempotency_key_reused_for_another_request_is_409(
    client: httpx.AsyncClient,
) -> None:
    headers = {"Idempotency-Key": "k-409"}
    first = await client.post(
        "/documents", json={"title": "a", "format": "txt", "content": "one"}, headers=headers
    )
    assert first.status_code == 201
    other = await client.post(
        "/documents", json={"title": "a", "format": "txt", "content": "two"}, headers=headers
    )
    assert other.status_code == 409
    assert other.headers["content-type"] == PROBLEM
    assert other.json()["document_id"] == first.json()["id"]
    bad_key = await client.post(
        "/documents",
        json={"title": "a", "format": "txt", "content": "x"},
        headers={"Idempotency-Key": "has space"},
    )
    assert bad_key.status_code == 422


async def test_soft_delete_answers_404_on_every_path_of_the_document(
    client: httpx.AsyncClient,
) -> None:
    doc = await create(
        client,
        title="Doomed zebra",
        content="zebra stripes",
        provenance={"workflow_execution": {"execution_id": "run-del"}},
    )
    assert (await client.get("/documents", params={"q": "zebra"})).json()["total"] == 1
    assert (await client.delete(f"/documents/{doc['id']}")).status_code == 204
    base = f"/documents/{doc['id']}"
    for path in (
        base,
        f"{base}?version=1",
        f"{base}/download",
        f"{base}/download?format=zip",
        f"{base}/versions",
        f"{base}/provenance",
        f"{base}/provenance?format=prov-json",
    ):
        gone = await client.get(path)
        assert gone.status_code == 404, path
        assert gone.headers["content-type"] == PROBLEM
        assert gone.json()["title"] == "Document deleted"
        assert gone.json()["deleted_at"]
    assert (await client.put(base, json={"content": "x"})).status_code == 404
    search = (await client.get("/documents", params={"q": "zebra"})).json()
    assert search["total"] == 0
    listing = (await client.get("/documents")).json()
    assert doc["id"] not in {d["id"] for d in listing["items"]}
    assert (await client.delete(base)).status_code == 204  # again: still done
    assert (await client.delete("/documents/no-such-doc")).status_code == 404


async def test_ten_mib_document_fits_and_one_byte_more_is_413(
    client: httpx.AsyncClient,
) -> None:
    limit = 10 * 1024 * 1024
    data = bytes(range(256)) * (limit // 256)
    assert len(data) == limit
    ok = await client.post(
        "/documents",
        json={"title": "big", "format": "pdf", "content": b64(data), "content_encoding": "base64"},
    )
    assert ok.status_code == 201, ok.text[:300]
    assert ok.json()["size_bytes"] == limit
    got = await client.get(f"/documents/{ok.json()['id']}/download")
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
    too_big = await client.post(
        "/documents",
        json={
            "title": "big",
            "format": "pdf",
            "content": b64(data + b"!"),
            "content_encoding": "base64",
        },
    )
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == PROBLEM
    assert too_big.json()["limit_bytes"] == limit


async def test_configured_content_limit(make_docstore: Callable[..., str]) -> None:
    url = make_docstore(max_content_bytes=1000)
    async with httpx.AsyncClient(base_url=url, auth=TestAuth(DOC_STORE)) as client:
        fits = await client.post(
            "/documents", json={"title": "t", "format": "txt", "content": "é" * 500}
        )
        assert fits.status_code == 201
        # 501 characters, but 1002 bytes: the limit counts bytes.
        over = await client.post(
            "/documents", json={"title": "t", "format": "txt", "content": "é" * 501}
        )
        assert over.status_code == 413
        assert over.json()["limit_bytes"] == 1000
        put_over = await client.put(f"/documents/{fits.json()['id']}", json={"content": "x" * 1001})
        assert put_over.status_code == 413
        # Far over the limit, the request body itself is refused before it is parsed.
        huge = await client.post(
            "/documents", json={"title": "t", "format": "txt", "content": "x" * 5_000_000}
        )
        assert huge.status_code == 413


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"title": "t", "format": "docx", "content": "x"}, 422, "format"),
        (
            {"title": "t", "format": "txt", "content": "%%%", "content_encoding": "base64"},
            422,
            "base64",
        ),
        (
            {"title": "t", "format": "txt", "content": "YWJj=ZGVm", "content_encoding": "base64"},
            422,
            "base64",
        ),
        (
            {"title": "t", "format": "txt", "content": "x", "content_encoding": "rot13"},
            422,
            "content_encoding",
        ),
        ({"title": "t", "format": "pdf", "content": "%PDF-1.4 not base64"}, 422, "base64"),
        (
            {"title": "t", "format": "txt", "content": "x", "provenance": ["not", "an", "object"]},
            422,
            "provenance",
        ),
        ({"title": "t", "format": "txt", "content": "x", "provenance": "text"}, 422, "provenance"),
        ({"title": "t", "format": "txt", "content": "x", "metadata": [1]}, 422, "metadata"),
        ({"title": "", "format": "txt", "content": "x"}, 422, "title"),
        ({"title": "a\nb", "format": "txt", "content": "x"}, 422, "title"),
        ({"title": "t\u0000", "format": "txt", "content": "x"}, 422, "title"),
        (
            {"title": "t", "format": "txt", "content": "x", "metadata": {"k": "a\u0000b"}},
            422,
            "NUL",
        ),
        ({"title": "t", "format": "txt", "content": "x", "metadata": {"k\u0000": 1}}, 422, "NUL"),
        (
            {"title": "t", "format": "txt", "content": "x", "provenance": {"trace_id": "\u0000"}},
            422,
            "NUL",
        ),
        ({"title": "t", "format": "txt", "content": "x", "extra": 1}, 422, "extra"),
        ({"format": "txt", "content": "x"}, 422, "title"),
        (
            {
                "title": "t",
                "format": "txt",
                "content": "x",
                "provenance": {"content_sha256": "0" * 64},
            },
            409,
            "sha256",
        ),
        (
            {
                "title": "t",
                "format": "txt",
                "content": "x",
                "provenance": {"content_sha256": "not a hash"},
            },
            422,
            "sha256",
        ),
        (
            {
                "title": "t",
                "format": "txt",
                "content": "x",
                "provenance": {"services_chain": [{"no_service": 1}]},
            },
            422,
            "service",
        ),
    ],
)
async def test_bad_input_is_a_clear_4xx(
    shared_client: httpx.AsyncClient, body: dict[str, Any], status: int, needle: str
) -> None:
    response = await shared_client.post("/documents", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert needle.lower() in response.text.lower()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"title": "t", "format": "txt", "content": "\\ud800"}',
        b'{"title": "\\udfff", "format": "txt", "content": "x"}',
        b'{"title": "t", "format": "txt", "content": "x", "metadata": {"k": "\\ud800"}}',
        b'{"title": "t", "format": "txt", "content": "x", "metadata": {"n": 1e400}}',
        b'{"title": "t", "format": "txt", "content": "x", "metadata": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}",
        b'{"title": "t", "format": "txt", "content": "x", "metadata": '
        + b'{"a":' * 80
        + b"1"
        + b"}" * 80
        + b"}",
        b"not json at all",
        b'{"title": "t", "format": "txt", "content": "x"',
    ],
)
async def test_hostile_bodies_never_500(shared_client: httpx.AsyncClient, raw: bytes) -> None:
    response = await shared_client.post(
        "/documents", content=raw, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text[:300]
    assert response.headers["content-type"] == PROBLEM


async def test_missing_documents_versions_and_pages_are_404(
    shared_client: httpx.AsyncClient,
) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    for path in ("", "/download", "/versions", "/provenance", "/provenance?format=prov-json"):
        response = await shared_client.get(f"/documents/{missing}{path}")
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM
        assert missing in response.json()["detail"]
    assert (
        await shared_client.put(f"/documents/{missing}", json={"content": "x"})
    ).status_code == 404
    assert (await shared_client.delete(f"/documents/{missing}")).status_code == 404
    doc = await create(shared_client)
    no_version = await shared_client.get(f"/documents/{doc['id']}", params={"version": 7})
    assert no_version.status_code == 404
    assert no_version.json()["latest_version"] == 1
    assert (
        await shared_client.get(f"/documents/{doc['id']}/download?version=7")
    ).status_code == 404
    assert (await shared_client.get(f"/documents/{doc['id']}?version=0")).status_code == 422
    assert (await shared_client.get(f"/documents/{doc['id']}?version=abc")).status_code == 422
    assert (await shared_client.get(f"/documents/{doc['id']}/versions?page=2")).status_code == 404
    too_long = "x" * 37
    assert (await shared_client.get(f"/documents/{too_long}")).status_code == 422


async def test_provenance_format_must_be_known(shared_client: httpx.AsyncClient) -> None:
    doc = await create(shared_client)
    response = await shared_client.get(f"/documents/{doc['id']}/provenance?format=turtle")
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


async def test_metadata_round_trips_as_json(shared_client: httpx.AsyncClient) -> None:
    metadata = {"nested": {"list": [1, 2.5, None, True, "ü"]}, "empty": {}, "big": 2**62}
    doc = await create(shared_client, metadata=metadata)
    fetched = (await shared_client.get(f"/documents/{doc['id']}")).json()
    assert fetched["metadata"] == metadata
    assert json.loads(json.dumps(fetched["metadata"])) == metadata

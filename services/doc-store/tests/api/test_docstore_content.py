"""Documents whole: `content` and `content_url` in the JSON view, `include=content` in lists."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx

from eco_shared.testing.auth import TestAuth

DOC_STORE = "doc-store"

PROBLEM = "application/problem+json"


async def _create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"title": "Whole", "format": "markdown", "content": "# Whole", **fields}
    response = await client.post("/documents", json=body)
    assert response.status_code == 201, response.text
    document: dict[str, Any] = response.json()
    return document


async def test_single_get_carries_the_text_and_an_absolute_content_url(
    client: httpx.AsyncClient, docstore: str
) -> None:
    for fmt, text in (
        ("markdown", "# Notes\n\nÜnïcödé ✓\n"),
        ("txt", "plain"),
        ("html", "<p>hi</p>"),
        ("json", '{"a": 1}'),
        ("csv", "a,b\r\n1,2\r\n"),
    ):
        created = await _create(client, format=fmt, content=text)
        assert (created["content"], created["content_omitted"]) == (text, None)
        got = (await client.get(f"/documents/{created['id']}")).json()
        assert got == created
        assert got["content_url"] == f"{docstore}/documents/{created['id']}/download?version=1"
        download = await client.get(got["content_url"])
        assert download.content == text.encode()
    v2 = await client.put(f"/documents/{created['id']}", json={"content": "x,y\r\n"})
    assert v2.json()["content"] == "x,y\r\n"
    first = (await client.get(f"/documents/{created['id']}", params={"version": 1})).json()
    assert first["content"] == "a,b\r\n1,2\r\n"
    assert first["content_url"].endswith("?version=1")


async def test_pdf_and_non_utf8_bytes_are_binary(
    client: httpx.AsyncClient, make_pdf: Callable[[str], bytes]
) -> None:
    pdf = base64.b64encode(make_pdf("binary")).decode()
    doc = await _create(client, format="pdf", content=pdf, content_encoding="base64")
    got = (await client.get(f"/documents/{doc['id']}")).json()
    assert (got["content"], got["content_omitted"]) == (None, "binary")
    assert got["content_url"].endswith(f"/documents/{doc['id']}/download?version=1")
    latin1 = base64.b64encode("café".encode("latin-1")).decode()
    doc = await _create(client, format="txt", content=latin1, content_encoding="base64")
    got = (await client.get(f"/documents/{doc['id']}")).json()
    assert (got["content"], got["content_omitted"]) == (None, "binary")


async def test_text_over_the_inline_limit_is_omitted(
    make_docstore: Callable[..., str],
) -> None:
    url = make_docstore(inline_content_max_bytes=10)
    async with httpx.AsyncClient(base_url=url, timeout=30, auth=TestAuth(DOC_STORE)) as client:
        small = await _create(client, content="0123456789")
        large = await _create(client, content="0123456789!")
        assert (await client.get(f"/documents/{small['id']}")).json()["content"] == "0123456789"
        got = (await client.get(f"/documents/{large['id']}")).json()
        assert (got["content"], got["content_omitted"]) == (None, "too_large")
        listed = (await client.get("/documents", params={"include": "content"})).json()
        by_id = {d["id"]: d for d in listed["items"]}
        assert by_id[small["id"]]["content"] == "0123456789"
        assert by_id[large["id"]]["content_omitted"] == "too_large"


async def test_lists_stay_small_unless_asked(client: httpx.AsyncClient) -> None:
    doc = await _create(client, title="Listed whole", content="listed text")
    plain = (await client.get("/documents", params={"q": "listed"})).json()
    [item] = plain["items"]
    assert (item["content"], item["content_omitted"]) == (None, "not_requested")
    assert item["content_url"].endswith(f"/documents/{doc['id']}/download?version=1")
    whole = (await client.get("/documents", params={"q": "listed", "include": "content"})).json()
    assert whole["items"][0]["content"] == "listed text"
    bad = await client.get("/documents", params={"include": "everything"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == PROBLEM


async def test_text_for_a_pdf_document_is_a_conflict_or_invalid(
    client: httpx.AsyncClient, make_pdf: Callable[[str], bytes]
) -> None:
    pdf = base64.b64encode(make_pdf("carry")).decode()
    doc = await _create(client, format="pdf", content=pdf, content_encoding="base64")
    carried = await client.put(f"/documents/{doc['id']}", json={"content": "plain text"})
    assert carried.status_code == 409
    assert "base64" in carried.json()["detail"]
    named = await client.put(
        f"/documents/{doc['id']}", json={"content": "plain text", "format": "pdf"}
    )
    assert named.status_code == 422
    switched = await client.put(
        f"/documents/{doc['id']}", json={"content": "now text", "format": "txt"}
    )
    assert (switched.status_code, switched.json()["content"]) == (200, "now text")


async def test_provenance_is_read_strictly(client: httpx.AsyncClient) -> None:
    for record, field in (
        ({"llm": {"tokens_out": "5"}}, "llm.tokens_out"),
        ({"llm": {"tokens_in": 5.0}}, "llm.tokens_in"),
        ({"quality_metrics": {"confidence": "0.9"}}, "quality_metrics.confidence"),
        ({"workflow_execution": {"started_at": 0}}, "workflow_execution.started_at"),
        ({"workflow_execution": {"started_at": "2026-01-01T10:00:00"}}, "started_at"),
        ({"services_chain": [{"service": "a", "started_at": "2026-01-01 10:00:00Z"}]}, "[0]"),
    ):
        response = await client.post(
            "/documents",
            json={"title": "t", "format": "txt", "content": "x", "provenance": record},
        )
        assert response.status_code == 422, record
        assert field in response.json()["errors"][0]["msg"], response.text
    good = {
        "workflow_execution": {"started_at": "2026-01-01T10:00:00+02:00"},
        "llm": {"tokens_in": 3},
        "quality_metrics": {"confidence": 1},
    }
    doc = await _create(client, provenance=good)
    stored = (await client.get(f"/documents/{doc['id']}/provenance")).json()
    assert stored["workflow_execution"]["started_at"] == "2026-01-01T10:00:00+02:00"
    assert stored["quality_metrics"]["confidence"] == 1.0

"""Search pages by cursor: a keyset in the newest-first orders (a write between pages shifts
nothing), positions for `match=any`; `page`/`page_size` still answer; a foreign cursor is a
400. Each runs on SQLite and on PostgreSQL (the `database_url` fixture)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from eco_shared.pagination import encode_cursor
from eco_shared.testing.auth import TestAuth

DOC_STORE = "doc-store"
ALICE = TestAuth(DOC_STORE, ("docs:read", "docs:write"), subject="user:alice")
BOB = TestAuth(DOC_STORE, ("docs:read", "docs:write"), subject="user:bob")


async def create(client: httpx.AsyncClient, title: str, content: str, auth: TestAuth) -> str:
    body = {"title": title, "format": "markdown", "content": content}
    response = await client.post("/documents", json=body, auth=auth)
    assert response.status_code == 201, response.text
    document_id: str = response.json()["id"]
    return document_id


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/documents", params=params, auth=ALICE)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def ids(page: dict[str, Any]) -> list[str]:
    return [d["id"] for d in page["items"]]


async def walk(client: httpx.AsyncClient, **params: Any) -> list[list[str]]:
    """Every page of a query, following `next_cursor` to its end."""
    pages: list[list[str]] = []
    page = await search(client, **params)
    pages.append(ids(page))
    while page.get("next_cursor"):
        page = await search(client, cursor=page["next_cursor"], **params)
        pages.append(ids(page))
        assert len(pages) < 20, "the cursor never ends"
    return pages


@pytest.mark.parametrize("query", [{}, {"q": "puffin"}], ids=["listing", "match-all"])
async def test_cursor_pages_newest_first_and_a_write_between_pages_shifts_nothing(
    client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    made = [await create(client, f"Puffin {i}", f"a puffin, number {i}", ALICE) for i in range(5)]
    await create(client, "Bob's puffin", "a puffin of bob's", BOB)
    newest = made[::-1]
    assert await walk(client, page_size=2, **query) == [newest[:2], newest[2:4], newest[4:]]

    first = await search(client, page_size=2, **query)
    assert (ids(first), first["page"], first["total"]) == (newest[:2], 1, 5)
    # a new document and a deleted one between the pages: the next page starts right after
    # the last one handed out (page=2 by offset would repeat newest[1])
    await create(client, "Puffin 5", "a puffin, number 5", ALICE)
    assert (await client.delete(f"/documents/{newest[3]}", auth=ALICE)).status_code == 204
    second = await search(client, page_size=2, cursor=first["next_cursor"], **query)
    assert (ids(second), second["page"]) == ([newest[2], newest[4]], 2)
    assert second.get("next_cursor") is None
    assert ids(await search(client, page_size=2, page=2, **query)) == [newest[1], newest[2]]


async def test_match_any_pages_by_position_through_the_relevance_order(
    client: httpx.AsyncClient,
) -> None:
    for i in range(3):
        await create(client, f"Notes {i}", "gannet", ALICE)
        await create(client, f"More {i}", "gannet and skua", ALICE)
    whole = ids(await search(client, q="gannet skua", match="any", page_size=100))
    assert len(whole) == 6
    pages = await walk(client, q="gannet skua", match="any", page_size=4)
    assert pages == [whole[:4], whole[4:]]


async def test_page_and_page_size_still_answer_and_hand_out_a_cursor(
    client: httpx.AsyncClient,
) -> None:
    made = [await create(client, f"Tern {i}", "a tern", ALICE) for i in range(3)]
    page = await search(client, q="tern", page=2, page_size=1)
    assert (ids(page), page["page"]) == ([made[1]], 2)
    after = await search(client, q="tern", page_size=1, cursor=page["next_cursor"])
    assert (ids(after), after["page"], after.get("next_cursor")) == ([made[0]], 3, None)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        encode_cursor(2),
        encode_cursor("x", 2, 0, ""),
        encode_cursor("t", 0, 0, ""),
        encode_cursor("t", 2, -5, ""),
    ],
)
async def test_a_cursor_not_handed_out_here_is_a_400(
    client: httpx.AsyncClient, cursor: str
) -> None:
    response = await client.get("/documents", params={"cursor": cursor}, auth=ALICE)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["loc"][-1] == "cursor"


async def test_a_cursor_of_another_order_is_a_400(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await create(client, f"Auk {i}", "an auk and a murre", ALICE)
    newest = await search(client, q="auk", page_size=1)
    relevant = await search(client, q="auk murre", match="any", page_size=1)
    for params in (
        {"q": "auk murre", "match": "any", "cursor": newest["next_cursor"]},
        {"q": "auk", "cursor": relevant["next_cursor"]},
    ):
        response = await client.get("/documents", params=params, auth=ALICE)
        assert response.status_code == 400, response.text
        assert "cursor" in response.json()["detail"]

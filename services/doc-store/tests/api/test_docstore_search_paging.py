"""Search pages: newest first by creation (updates do not move a document), owners kept
apart inside the index, ranking of `match=any`, and a `total` counted up to its cap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from eco_shared.testing.auth import TestAuth

DOC_STORE = "doc-store"
ALICE = TestAuth(DOC_STORE, ("docs:read", "docs:write"), subject="user:alice")
BOB = TestAuth(DOC_STORE, ("docs:read", "docs:write"), subject="user:bob")
READ_ALL = TestAuth(DOC_STORE, ("docs:read", "docs:read:all"), subject="user:auditor")


async def create(client: httpx.AsyncClient, title: str, content: str, auth: TestAuth) -> str:
    body = {"title": title, "format": "markdown", "content": content}
    response = await client.post("/documents", json=body, auth=auth)
    assert response.status_code == 201, response.text
    document_id: str = response.json()["id"]
    return document_id


async def search(client: httpx.AsyncClient, auth: TestAuth, **params: Any) -> dict[str, Any]:
    response = await client.get("/documents", params=params, auth=auth)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def ids(page: dict[str, Any]) -> list[str]:
    return [d["id"] for d in page["items"]]


async def test_newest_first_is_creation_order_and_owners_stay_apart(
    client: httpx.AsyncClient,
) -> None:
    first = await create(client, "First", "a walrus in the first", ALICE)
    second = await create(client, "Second", "a walrus in the second", ALICE)
    bobs = await create(client, "Bob's", "a walrus of bob's", BOB)
    third = await create(client, "Third", "a walrus in the third", ALICE)
    # a new version changes the text searched, not the document's place
    update = {"content": "the walrus came back, walruses everywhere"}
    assert (await client.put(f"/documents/{first}", json=update, auth=ALICE)).status_code == 200

    page = await search(client, ALICE, q="walrus")
    assert ids(page) == [third, second, first]
    assert page["total"] == 3
    assert ids(await search(client, BOB, q="walrus")) == [bobs]
    assert ids(await search(client, ALICE, q="walrus", owner="user:bob")) == []
    everyone = await search(client, READ_ALL, q="walrus")
    assert ids(everyone) == [third, bobs, second, first]
    assert ids(await search(client, READ_ALL, q="walrus", owner="user:bob")) == [bobs]
    # the old version's words are gone, the new version's (stemmed) are found
    assert ids(await search(client, ALICE, q='"in the first"')) == []
    assert ids(await search(client, ALICE, q="everywhere")) == [first]
    assert ids(await search(client, ALICE, q="came")) == [first]

    assert (await client.delete(f"/documents/{second}", auth=ALICE)).status_code == 204
    assert ids(await search(client, ALICE, q="walrus")) == [third, first]
    assert ids(await search(client, ALICE, q="walrus", page_size=1, page=2)) == [first]


async def test_match_any_ranks_by_terms_matched_then_relevance(client: httpx.AsyncClient) -> None:
    one = await create(client, "Notes", "otter", ALICE)
    both = await create(client, "More notes", "otter and beaver", ALICE)
    titled = await create(client, "Otter", "beaver and otter", ALICE)
    await create(client, "Bob's", "otter and beaver", BOB)
    page = await search(client, ALICE, q="otter beaver", match="any")
    # two terms before one; of those with both, the title match first
    assert ids(page) == [titled, both, one]
    assert page["total"] == 3


async def test_total_is_exact_up_to_the_cap_and_pages_past_it_still_answer(
    make_docstore: Callable[..., str],
) -> None:
    url = make_docstore(search_count_cap=3)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        made = [await create(client, f"Heron {i}", f"a heron, number {i}", ALICE) for i in range(6)]
        await create(client, "Bob's heron", "a heron of bob's", BOB)
        newest = made[::-1]
        for params in ({"q": "heron"}, {}):  # a search, and the plain listing
            page = await search(client, ALICE, page_size=2, **params)
            assert (ids(page), page["total"]) == (newest[:2], 3)  # capped: "3 or more"
            page = await search(client, ALICE, page_size=2, page=3, **params)
            assert (ids(page), page["total"]) == (newest[4:], 6)  # counted to the page: exact
            past = await client.get(
                "/documents", params={"page_size": 2, "page": 4, **params}, auth=ALICE
            )
            assert past.status_code == 404
        few = await search(client, ALICE, q='"number 4"')
        assert (ids(few), few["total"]) == ([made[4]], 1)

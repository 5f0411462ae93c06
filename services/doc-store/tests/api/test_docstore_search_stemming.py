"""`GET /documents?q=`: stemmed matching and `match=any` ranking, on both backends."""

from __future__ import annotations

from typing import Any

import httpx

from .test_docstore_search import create, hostile_responses, search


async def ids(client: httpx.AsyncClient, q: str, **params: Any) -> list[str]:
    return [d["id"] for d in (await search(client, q=q, **params))["items"]]


async def test_inflections_find_each_other(client: httpx.AsyncClient) -> None:
    retry = await create(client, "Client notes", "Every call gets one retry with backoff.")
    retries = await create(client, "Worker notes", "The worker retries failed jobs.")
    logging = await create(client, "Logging", "Logging is configured per service.")
    unrelated = await create(client, "Cooking", "Boil the pasta for nine minutes.")
    assert set(await ids(client, "retry")) == {retry, retries}
    assert set(await ids(client, "retries")) == {retry, retries}
    assert set(await ids(client, "retrying")) == {retry, retries}
    assert await ids(client, "logs") == [logging]  # logging -> log, logs -> log
    assert await ids(client, "workers job") == [retries]  # every term, stemmed
    assert await ids(client, '"fail jobs"') == [retries]  # a stemmed phrase keeps its order
    assert await ids(client, '"jobs failed"') == []
    assert unrelated not in await ids(client, "retry")
    # Words the stemmer does not know (non-Latin letters) still match as written.
    tokyo = await create(client, "東京 guide", "Kraków and 東京 in one trip")
    assert await ids(client, "東京") == [tokyo]
    assert await ids(client, "東京 trips") == [tokyo]
    assert await ids(client, "東京 retry") == []


async def test_match_any_ranks_by_terms_matched(client: httpx.AsyncClient) -> None:
    two = await create(client, "Streams", "Redis streams deliver events to consumer groups.")
    one = await create(client, "Groups", "Consumer groups share work.")
    three = await create(client, "All of it", "Redis consumer groups read streams of events.")
    none = await create(client, "Other", "Nothing to see here.")
    everything = await search(client, q="redis stream events", match="any")
    assert everything["total"] == 2  # `one` has none of the three words
    assert [d["id"] for d in everything["items"]] == [three, two] or [
        d["id"] for d in everything["items"]
    ] == [two, three]
    ranked = await ids(client, "redis streams events consumers groups work", match="any")
    assert ranked[0] in (two, three)
    assert ranked[-1] == one  # fewest terms matched comes last
    assert none not in ranked
    # The default is `all`: every term required.
    assert await ids(client, "redis work") == []
    assert await ids(client, "redis work", match="all") == []
    assert set(await ids(client, "redis work", match="any")) == {one, two, three}
    # Most terms first: "work share" are both in `one` only.
    assert (await ids(client, "consumer share work", match="any"))[0] == one
    paged = [
        await search(client, q="groups consumer", match="any", page=p, page_size=1)
        for p in (1, 2, 3)
    ]
    assert sorted(d["id"] for p in paged for d in p["items"]) == sorted([one, two, three])
    assert all(p["total"] == 3 for p in paged)
    bad = await client.get("/documents", params={"q": "x", "match": "some"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


async def test_hostile_queries_with_match_any_never_500(shared_client: httpx.AsyncClient) -> None:
    await shared_client.post(
        "/documents",
        json={"title": "The fox", "format": "txt", "content": "brown foxes and dogs, 100% sure"},
    )
    by_query = await hostile_responses(shared_client, match="any")
    assert by_query["fox NOT"].json()["total"] >= 1  # any: "fox" is enough
    assert by_query["fox*"].json()["total"] >= 1
    stemmed = await shared_client.get("/documents", params={"q": "fox NOT"})
    assert stemmed.json()["total"] == 0  # all: "not" is a word the document lacks

"""Fault test 3: Redis stopped for 10 s while documents are created; every create made
meanwhile succeeds and has its event delivered once Redis is back (the outbox)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import redis.asyncio as aioredis

from eco_shared.bus import Event
from eco_shared.redis_server import RedisServer
from eco_shared.testing.auth import TestAuth

DOC_STORE = "doc-store"

OUTAGE_S = 10.0


async def stored_events(redis_url: str, prefix: str) -> list[Event]:
    # a client per read: one kept across the restart would fail on its dead connection
    async with aioredis.Redis.from_url(redis_url) as client:
        entries = await client.xrange(f"{prefix}eco.events")
    events = [Event.from_fields(fields) for _, fields in entries]
    return [e for e in events if e.type == "document.stored"]


async def wait_for_events(
    redis_url: str, prefix: str, document_ids: list[str], timeout_s: float = 90.0
) -> list[Event]:
    deadline = time.monotonic() + timeout_s
    while True:
        events = await stored_events(redis_url, prefix)
        if set(document_ids) <= {e.data["document_id"] for e in events}:
            return events
        if time.monotonic() > deadline:
            missing = set(document_ids) - {e.data["document_id"] for e in events}
            raise AssertionError(f"no document.stored event for {len(missing)} creates")
        await asyncio.sleep(0.2)


async def create(http: httpx.AsyncClient, i: int) -> httpx.Response:
    body = {"title": f"Outage {i}", "format": "txt", "content": f"written while down {i}"}
    return await http.post("/documents", json=body, headers={"Idempotency-Key": f"outage-{i}"})


async def test_creates_while_redis_is_down_are_announced_once_it_is_back(
    private_redis: RedisServer, make_docstore: Callable[..., str], redis_prefix: str
) -> None:
    url = make_docstore(redis_url=private_redis.url)
    async with httpx.AsyncClient(base_url=url, timeout=60, auth=TestAuth(DOC_STORE)) as http:
        before = await create(http, 0)
        assert before.status_code == 201, before.text
        await wait_for_events(private_redis.url, redis_prefix, [before.json()["id"]])

        private_redis.stop()
        down_ids: list[str] = []
        i = 1
        outage_ends = time.monotonic() + OUTAGE_S
        while time.monotonic() < outage_ends:
            created = await create(http, i)
            assert created.status_code == 201, created.text
            down_ids.append(created.json()["id"])
            i += 1
            await asyncio.sleep(0.2)
        # Idempotency lives in SQL: a replay answers without Redis too, and announces nothing.
        replay = await create(http, 1)
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == down_ids[0]
        # Redis really was away: the doc store said it was not ready.
        assert (await http.get("/health/ready")).status_code == 503
        assert len(down_ids) >= 5

        private_redis.start()
        events = await wait_for_events(private_redis.url, redis_prefix, down_ids)

    expected = [before.json()["id"], *down_ids]
    # Delivery is at least once: a repeat carries the same event id, which consumers skip.
    distinct = list({e.id: e for e in events}.values())
    assert [e.data["document_id"] for e in distinct] == expected  # one each, in write order
    assert [e.data["title"] for e in distinct] == [f"Outage {n}" for n in range(len(expected))]
    assert all(e.source == "doc-store" for e in distinct)

"""Ingest lag as `/stats` reports it: pending and undelivered entries of the group.

Redis 7 reports `lag` in XINFO GROUPS; Redis 6.2 (the embedded redis-server) does not, and
the undelivered entries are then counted in Redis (up to a cap) instead of being fetched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from eco_log_collector.repository import UNDELIVERED_CAP, StreamRepository
from eco_shared.redis_server import RedisServer


async def _lag_after_reading(client: aioredis.Redis, key: str, total: int, read: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(total):
        pipe.xadd(key, {"n": str(i)})
    await pipe.execute()
    await client.xgroup_create(key, "g", id="0")
    await client.xreadgroup("g", "c", {key: ">"}, count=read)
    lag = await StreamRepository(client).lag(key, "eco.logs", "g")
    assert (lag.length, lag.pending, lag.undelivered, lag.lag) == (
        total,
        read,
        total - read,
        total,
    )
    none = await StreamRepository(client).lag(f"{key}-missing", "eco.logs", "g")
    assert (none.length, none.pending, none.undelivered) == (0, 0, 0)


async def test_lag_counts_pending_and_undelivered(redis_url: str, redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        await _lag_after_reading(client, f"{redis_prefix}eco.logs", 250, 40)
    finally:
        await client.aclose()


@pytest.fixture
async def redis62(tmp_path: Path) -> AsyncIterator[aioredis.Redis]:
    with RedisServer(tmp_path / "redis") as server:
        client = aioredis.Redis.from_url(server.url)
        try:
            yield client
        finally:
            await client.aclose()


async def test_lag_without_xinfo_lag_counts_in_redis_up_to_the_cap(
    redis62: aioredis.Redis,
) -> None:
    if "lag" in (await _groups_fields(redis62)):
        pytest.skip("this redis-server reports lag itself")
    await _lag_after_reading(redis62, "eco.logs", 250, 40)
    over = UNDELIVERED_CAP + 5
    pipe = redis62.pipeline(transaction=False)
    for i in range(over):
        pipe.xadd("capped", {"n": str(i)})
    await pipe.execute()
    await redis62.xgroup_create("capped", "g", id="0")
    lag = await StreamRepository(redis62).lag("capped", "eco.logs", "g")
    assert (lag.length, lag.undelivered) == (over, UNDELIVERED_CAP)


async def _groups_fields(client: aioredis.Redis) -> set[str]:
    await client.xadd("probe", {"n": "0"})
    await client.xgroup_create("probe", "p", id="0")
    groups = await client.xinfo_groups("probe")
    await client.delete("probe")
    return {k.decode() if isinstance(k, bytes) else k for k in groups[0]}

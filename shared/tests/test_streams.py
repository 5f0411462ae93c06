"""Following a Redis stream with `tail`: order, idle batches, and a Redis restart."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from eco_shared.redis_server import RedisServer
from eco_shared.streams import as_text, stream_end, tail, text_fields


async def test_tail_follows_from_a_pinned_end_and_reports_idle(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}s"
    assert await stream_end(redis_client, key) == "0-0"
    await redis_client.xadd(key, {"n": "old"})
    start = await stream_end(redis_client, key)
    follower = tail(redis_client, key, start, block_ms=100)
    assert await anext(follower) == []  # nothing new: an idle batch
    await redis_client.xadd(key, {"n": "1"})
    await redis_client.xadd(key, {"n": "2"})
    batch = await anext(follower)
    assert [text_fields(f)["n"] for _, f in batch] == ["1", "2"]
    assert batch[-1][0] == await stream_end(redis_client, key)
    await follower.aclose()


async def test_tail_recovers_when_redis_restarts(private_redis: RedisServer) -> None:
    client = aioredis.Redis.from_url(private_redis.url, socket_timeout=2)
    try:
        first = await client.xadd("s", {"n": "before"})
        follower = tail(client, "s", "0-0", block_ms=100, retry_s=0.1)
        assert [as_text(i) for i, _ in await anext(follower)] == [as_text(first)]
        private_redis.kill()
        pending = asyncio.ensure_future(anext(follower))
        await asyncio.sleep(0.5)
        assert not pending.done()  # waiting for Redis, not failing
        private_redis.start()
        await client.xadd("s", {"n": "after"})  # AOF kept "before"; the tail resumes after it
        batch = await asyncio.wait_for(pending, timeout=30)
        while not batch:
            batch = await asyncio.wait_for(anext(follower), timeout=30)
        assert [text_fields(f)["n"] for _, f in batch] == ["after"]
        await follower.aclose()
    finally:
        await client.aclose()

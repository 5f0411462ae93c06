"""Telling a Redis outage from a failure, and waiting for Redis to answer again."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError


def redis_outage(exc: BaseException) -> bool:
    """Whether a Redis error is the exception or anywhere in its cause/context chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, RedisError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


async def await_redis(redis: aioredis.Redis, timeout_s: float) -> None:
    """Return once Redis answers a PING, or after `timeout_s` (whichever comes first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(redis.ping(), 2.0)
            return
        except (RedisError, OSError, TimeoutError):
            await asyncio.sleep(0.5)

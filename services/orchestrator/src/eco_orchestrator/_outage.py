"""Telling a Redis outage from a failure, waiting for Redis to answer again, and the runs
an outage or a stop sets aside."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError


class RunInterrupted(Exception):
    """The replica is shutting down; the run stays pending and resumes elsewhere."""


# how often a run deferred by a Redis outage is tried again in place before its entry is
# left to be reclaimed
LOCAL_RETRIES = 3


class RunDeferred(Exception):
    """Redis was away while the run executed; it stays pending and resumes later."""


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


class RedisWatch:
    """Pings Redis every second, remembering when it last did not answer."""

    def __init__(self, redis: aioredis.Redis, grace_s: float) -> None:
        self.redis = redis
        self.grace_s = grace_s
        self._lost_at = -float("inf")

    async def run(self) -> None:
        """Ping forever (a supervised background task)."""
        while True:
            try:
                await asyncio.wait_for(self.redis.ping(), 2.0)
            except (RedisError, OSError, TimeoutError):
                self._lost_at = time.monotonic()
            await asyncio.sleep(1.0)

    async def away(self, exc: BaseException) -> bool:
        """Whether a run failed because Redis is, or lately was, unreachable.

        Lately counts: while Redis is away every service answers 503, and the breakers those
        answers opened stay open for a while after it is back.
        """
        if redis_outage(exc) or time.monotonic() - self._lost_at < self.grace_s:
            return True
        try:
            await asyncio.wait_for(self.redis.ping(), 2.0)
        except (RedisError, OSError, TimeoutError):
            return True
        return False

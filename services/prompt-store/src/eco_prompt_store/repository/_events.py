"""Reads of the `eco.events` stream for the watch feed (the outbox relay writes it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from eco_shared.streams import RawFields, stream_end, tail


class EventFeed:
    """The events every replica's relay published to one stream."""

    def __init__(self, redis: aioredis.Redis, key: str, *, block_ms: int) -> None:
        self.redis = redis
        self.key = key
        self.block_ms = block_ms

    async def end(self) -> str:
        """The id of the newest entry now ("0-0" when there is none)."""
        return await stream_end(self.redis, self.key)

    def follow(self, after: str) -> AsyncIterator[list[tuple[str, RawFields]]]:
        """Batches of entries after `after`; an empty batch when nothing came for a while."""
        return tail(self.redis, self.key, after, block_ms=self.block_ms)

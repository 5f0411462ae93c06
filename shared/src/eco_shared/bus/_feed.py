"""Following one stream's domain events as every replica published them (watch feeds).

Discovery's `/watch` and the prompt store's `/prompts/watch` both answer "the events of
these types after this entry, of this name": the start pinned before the answer begins,
malformed entries passed over, resumable by entry id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection

import redis.asyncio as aioredis

from eco_shared.bus._event import Event, MalformedEvent
from eco_shared.streams import RawFields, stream_end, tail


class EventFeed:
    """The events on one stream (`eco.events`), read without a consumer group."""

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

    async def events(
        self, *, after: str | None, types: Collection[str], name: str | None = None
    ) -> AsyncIterator[tuple[str, Event]]:
        """`(entry id, event)` for each event of `types` after entry `after` (from now when
        None) whose `data.name` is `name` when given.

        The start is pinned before this returns: following "$" would drop the events that
        arrive between an answer's headers and its first read.
        """
        cursor = after if after is not None else await self.end()
        return self._events(cursor, types, name)

    async def _events(
        self, cursor: str, types: Collection[str], name: str | None
    ) -> AsyncIterator[tuple[str, Event]]:
        async for batch in self.follow(cursor):
            for entry_id, fields in batch:
                try:
                    event = Event.from_fields(fields)
                except MalformedEvent:
                    continue
                if event.type in types and (name is None or event.data.get("name") == name):
                    yield entry_id, event

"""The change feed behind `/watch`: registry events from `eco.events`, filtered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from eco_discovery.models import WATCH_TYPES
from eco_discovery.repository import EventFeed
from eco_shared.bus import Event, MalformedEvent


@dataclass(frozen=True, slots=True)
class Change:
    """One registry event; `cursor` is its stream entry id (the SSE id to resume after)."""

    cursor: str
    type: str
    body: dict[str, Any]


class Watch:
    """Follows the stream every replica publishes to, so a watcher sees all their changes."""

    def __init__(self, feed: EventFeed) -> None:
        self.feed = feed

    async def changes(
        self, *, after: str | None, service: str | None = None
    ) -> AsyncIterator[Change]:
        """The changes after entry `after` (from now when None), of `service` if given.

        The start is pinned before this returns: following "$" would drop the events that
        arrive between the answer's headers and the first read.
        """
        cursor = after if after is not None else await self.feed.end()
        return self._follow(cursor, service)

    async def _follow(self, cursor: str, service: str | None) -> AsyncIterator[Change]:
        async for batch in self.feed.follow(cursor):
            for entry_id, fields in batch:
                try:
                    event = Event.from_fields(fields)
                except MalformedEvent:
                    continue
                if event.type not in WATCH_TYPES:
                    continue
                if service is not None and event.data.get("name") != service:
                    continue
                body = {
                    "id": event.id,
                    "type": event.type,
                    "source": event.source,
                    "time": event.time,
                    "data": event.data,
                }
                yield Change(entry_id, event.type, body)

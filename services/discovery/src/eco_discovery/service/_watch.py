"""The change feed behind `/watch`: registry events from `eco.events`, filtered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from eco_discovery.models import WATCH_TYPES
from eco_discovery.repository import EventFeed
from eco_shared.bus import Event


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
        """The changes after entry `after` (from now when None), of `service` if given; the
        start is pinned before this returns."""
        events = await self.feed.events(after=after, types=WATCH_TYPES, name=service)
        return self._changes(events)

    async def _changes(self, events: AsyncIterator[tuple[str, Event]]) -> AsyncIterator[Change]:
        async for entry_id, event in events:
            body = {
                "id": event.id,
                "type": event.type,
                "source": event.source,
                "time": event.time,
                "data": event.data,
            }
            yield Change(entry_id, event.type, body)

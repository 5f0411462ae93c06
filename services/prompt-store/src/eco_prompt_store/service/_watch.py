"""The feed behind `/prompts/watch`: `prompt.label_moved` events from `eco.events`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from eco_prompt_store.repository import EventFeed
from eco_shared.bus import Event, MalformedEvent
from eco_shared.models.prompt_store import LABEL_MOVED, PromptEvent


class Watch:
    """Follows the stream every replica's relay publishes to, so a watcher sees all moves."""

    def __init__(self, feed: EventFeed) -> None:
        self.feed = feed

    async def moves(
        self, *, after: str | None, name: str | None = None
    ) -> AsyncIterator[PromptEvent]:
        """The label moves after entry `after` (from now when None), of prompt `name` if given.

        The start is pinned before this returns, so nothing published between the answer's
        headers and the first read is missed.
        """
        cursor = after if after is not None else await self.feed.end()
        return self._follow(cursor, name)

    async def _follow(self, cursor: str, name: str | None) -> AsyncIterator[PromptEvent]:
        async for batch in self.feed.follow(cursor):
            for entry_id, fields in batch:
                try:
                    event = Event.from_fields(fields)
                except MalformedEvent:
                    continue
                if event.type != LABEL_MOVED:
                    continue
                if name is not None and event.data.get("name") != name:
                    continue
                yield PromptEvent(
                    cursor=entry_id,
                    id=event.id,
                    type=event.type,
                    source=event.source,
                    time=event.time,
                    data=event.data,
                )

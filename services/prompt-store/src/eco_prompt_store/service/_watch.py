"""The feed behind `/prompts/watch`: `prompt.label_moved` events from `eco.events`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from eco_prompt_store.repository import EventFeed
from eco_shared.bus import Event
from eco_shared.models.prompt_store import LABEL_MOVED, PromptEvent


class Watch:
    """Follows the stream every replica's relay publishes to, so a watcher sees all moves."""

    def __init__(self, feed: EventFeed) -> None:
        self.feed = feed

    async def moves(
        self, *, after: str | None, name: str | None = None
    ) -> AsyncIterator[PromptEvent]:
        """The label moves after entry `after` (from now when None), of prompt `name` if given;
        the start is pinned before this returns, so nothing published between the answer's
        headers and the first read is missed."""
        events = await self.feed.events(after=after, types=(LABEL_MOVED,), name=name)
        return self._moves(events)

    async def _moves(self, events: AsyncIterator[tuple[str, Event]]) -> AsyncIterator[PromptEvent]:
        async for entry_id, event in events:
            yield PromptEvent(
                cursor=entry_id,
                id=event.id,
                type=event.type,
                source=event.source,
                time=event.time,
                data=event.data,
            )

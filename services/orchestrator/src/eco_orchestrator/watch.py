"""The run-list change feed behind `GET /runs/watch`: every run a caller may see, each
time it is created or changes status, read from the `run.*` events the outbox relay
publishes on `eco.events` (so a watcher sees the changes every replica made).

The stream entry id is the change's cursor: a client reconnecting with `Last-Event-ID`
resumes exactly after the last change it saw, on any replica.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from eco_orchestrator import access
from eco_shared.adapters.orchestrator import RunChange
from eco_shared.auth import Principal
from eco_shared.bus import EVENTS, Event, EventBus, EventFeed

# each announcing event type -> the status it says the run now has (None: from its data)
STATUS_OF: dict[str, str | None] = {
    "run.created": "queued",
    "run.started": "running",
    "run.waiting_review": "waiting_review",
    "run.resumed": "queued",
    "run.completed": None,  # "completed", or "needs_clarification" when its data says so
    "run.failed": "failed",
    "run.cancelled": "cancelled",
}


class RunWatch:
    """Follows `eco.events` for the run changes one caller may see."""

    def __init__(self, bus: EventBus, *, block_ms: int = 1000) -> None:
        self.feed = EventFeed(bus.redis, bus.key(EVENTS), block_ms=block_ms)

    async def changes(self, caller: Principal, after: str | None) -> AsyncIterator[RunChange]:
        """The changes after entry `after` (from now when None) of runs `caller` may see;
        the start is pinned before this returns."""
        events = await self.feed.events(after=after, types=STATUS_OF)
        return self._visible(events, caller)

    async def _visible(
        self, events: AsyncIterator[tuple[str, Event]], caller: Principal
    ) -> AsyncIterator[RunChange]:
        everyone = access.sees_all(caller)
        async for entry_id, event in events:
            data = event.data
            run_id, owner = data.get("run_id"), data.get("owner")
            if not isinstance(run_id, str) or not (everyone or (owner and owner == caller.owner)):
                continue
            status = STATUS_OF.get(event.type) or str(data.get("status") or "completed")
            yield RunChange(
                cursor=entry_id,
                type=event.type,
                run_id=run_id,
                status=status,  # type: ignore[arg-type]
                owner=owner,
                time=event.time,
            )

"""`/runs/watch`: the run-list change feed as server-sent events (resumable).

An event each time a run the caller may see (its own; everyone's with `runs:read:all`)
is created or changes status. The SSE `id` is the `eco.events` entry id: a client that
reconnects with `Last-Event-ID` (or `?after=`) resumes exactly after the last change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from eco_orchestrator.deps import OrchestratorDep, SettingsDep
from eco_shared.adapters.orchestrator import RunChange
from eco_shared.auth import Principal, require
from eco_shared.problems import problem_responses

# registered before the `/runs` router, so `watch` is not taken for a run id
router = APIRouter(prefix="/runs/watch", tags=["runs"])
Reader = Annotated[Principal, require("runs:read")]

STREAM_ID = r"^(0|\d{1,20}-\d{1,20})$"


@router.get(
    "",
    summary="Server-sent events: each run the caller may see, created or changing status",
    response_class=EventSourceResponse,
    responses=problem_responses((422, "`Last-Event-ID` or `after` is not an event id")),
)
async def watch_runs(
    orchestrator: OrchestratorDep,
    settings: SettingsDep,
    caller: Reader,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=STREAM_ID, max_length=41)
    ] = None,
    after: Annotated[
        str | None,
        Query(pattern=STREAM_ID, max_length=41, description="Replay from after this event id."),
    ] = None,
) -> EventSourceResponse:
    changes = await orchestrator.watch.changes(caller, last_event_id or after)
    return EventSourceResponse(_sse(changes), ping=settings.watch_ping_s)


async def _sse(changes: AsyncIterator[RunChange]) -> AsyncIterator[ServerSentEvent]:
    async for change in changes:
        body = change.model_dump_json(exclude={"cursor"})
        yield ServerSentEvent(data=body, event=change.type, id=change.cursor)

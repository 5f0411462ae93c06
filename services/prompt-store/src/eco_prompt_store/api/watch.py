"""`/prompts/watch`: label moves as server-sent events, read from the `eco.events` stream.

Every replica's outbox relay publishes to the same stream, so a watcher sees the moves
made through any of them. The SSE `id` is the stream entry id: a client reconnecting with
`Last-Event-ID` (or `?since=`) resumes exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from eco_prompt_store.deps import READ, SettingsDep, WatchDep
from eco_shared.auth import require
from eco_shared.models.prompt_store import NAME_PATTERN, PromptEvent
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/prompts/watch", tags=["watch"], dependencies=[require(READ)])

STREAM_ID = r"^(0|\d{1,20}-\d{1,20}|\d{1,20})$"


@router.get(
    "",
    summary="Server-sent events: prompt.label_moved",
    response_class=EventSourceResponse,
    responses=problem_responses((422, "A malformed `since`, `Last-Event-ID` or name")),
)
async def watch(
    feed: WatchDep,
    settings: SettingsDep,
    name: Annotated[str | None, Query(pattern=NAME_PATTERN, description="Only this prompt")] = None,
    since: Annotated[
        str | None, Query(pattern=STREAM_ID, description="Replay from after this event id")
    ] = None,
    last_event_id: Annotated[str | None, Header(pattern=STREAM_ID)] = None,
) -> EventSourceResponse:
    moves = await feed.moves(after=since or last_event_id, name=name)
    return EventSourceResponse(_sse(moves), ping=settings.watch_ping_s)


async def _sse(moves: AsyncIterator[PromptEvent]) -> AsyncIterator[ServerSentEvent]:
    async for move in moves:
        body = move.model_dump_json(exclude={"cursor"})
        yield ServerSentEvent(data=body, event=move.type, id=move.cursor)

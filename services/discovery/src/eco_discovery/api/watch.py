"""`/watch`: registry changes as server-sent events, read from the `eco.events` stream.

Every replica publishes to the same stream, so a watcher sees the changes made by all of
them. The SSE `id` is the stream entry id: a client reconnecting with `Last-Event-ID`
(or `?since=`) resumes exactly where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from eco_discovery.api._problems import REDIS_DOWN
from eco_discovery.deps import DiscoveryDep, SettingsDep
from eco_discovery.models import NAME_PATTERN
from eco_discovery.service import Change
from eco_shared.auth import require
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/watch", tags=["watch"], dependencies=[require("discovery:read")])

STREAM_ID = r"^(0|\d{1,20}-\d{1,20}|\d{1,20})$"


@router.get(
    "",
    summary="Server-sent events: service.registered, service.health_changed, "
    "service.deregistered, discovery.self_preservation",
    response_class=EventSourceResponse,
    responses=problem_responses(
        (422, "A malformed `since` or `Last-Event-ID`, or service name"),
        REDIS_DOWN,
    ),
)
async def watch(
    discovery: DiscoveryDep,
    settings: SettingsDep,
    service: Annotated[str | None, Query(max_length=64, pattern=NAME_PATTERN)] = None,
    since: Annotated[
        str | None, Query(pattern=STREAM_ID, description="Replay from after this event id")
    ] = None,
    last_event_id: Annotated[str | None, Header(pattern=STREAM_ID)] = None,
) -> EventSourceResponse:
    changes = await discovery.watch.changes(after=since or last_event_id, service=service)
    return EventSourceResponse(_sse(changes), ping=settings.watch_ping_s)


async def _sse(changes: AsyncIterator[Change]) -> AsyncIterator[ServerSentEvent]:
    async for change in changes:
        yield ServerSentEvent(data=json.dumps(change.body), event=change.type, id=change.cursor)

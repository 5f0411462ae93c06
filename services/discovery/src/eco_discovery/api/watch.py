"""`/watch`: registry changes as server-sent events, read from the `eco.events` stream.

Every replica publishes to the same stream, so a watcher sees the changes made by all of
them. The SSE `id` is the stream entry id: a client reconnecting with `Last-Event-ID`
(or `?since=`) resumes exactly where it stopped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, Query
from redis.exceptions import RedisError
from sse_starlette import EventSourceResponse, ServerSentEvent

from eco_discovery.deps import Settings, State
from eco_discovery.models import NAME_PATTERN, WATCH_TYPES
from eco_shared.bus import EVENTS, Event, MalformedEvent

router = APIRouter(prefix="/watch", tags=["watch"])
log = structlog.get_logger(__name__)

STREAM_ID = r"^(0|\d{1,20}-\d{1,20}|\d{1,20})$"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@router.get(
    "",
    summary="Server-sent events: service.registered, service.health_changed, "
    "service.deregistered, discovery.self_preservation",
    response_class=EventSourceResponse,
)
async def watch(
    state: State,
    settings: Settings,
    service: Annotated[str | None, Query(max_length=64, pattern=NAME_PATTERN)] = None,
    since: Annotated[
        str | None, Query(pattern=STREAM_ID, description="Replay from after this event id")
    ] = None,
    last_event_id: Annotated[str | None, Header(pattern=STREAM_ID)] = None,
) -> EventSourceResponse:
    redis = state.redis
    key = state.bus.key(EVENTS)
    cursor = since or last_event_id
    if cursor is None:
        # Pin the current end now: passing "$" to every XREAD would drop events that
        # arrive between two reads.
        last = await redis.xrevrange(key, "+", "-", count=1)
        cursor = _text(last[0][0]) if last else "0-0"

    async def events(cursor: str) -> AsyncIterator[ServerSentEvent]:
        while True:
            try:
                batch: Any = await redis.xread(
                    {key: cursor}, count=100, block=settings.watch_block_ms
                )
            except (RedisError, OSError) as exc:
                log.warning("watch_read_failed", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            for _stream, entries in batch or []:
                for entry_id, fields in entries:
                    cursor = _text(entry_id)
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
                    yield ServerSentEvent(data=json.dumps(body), event=event.type, id=cursor)

    return EventSourceResponse(events(cursor), ping=settings.watch_ping_s)

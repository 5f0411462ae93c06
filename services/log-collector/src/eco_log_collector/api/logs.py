"""`GET /logs` (newest first, cursor pages) and `GET /logs/tail` (server-sent events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from eco_log_collector.api._params import (
    STREAM_ID_PATTERN,
    CursorQuery,
    LimitQuery,
    TimeQuery,
    TraceIdQuery,
    time_window,
)
from eco_log_collector.api._scopes import LOGS_READ
from eco_log_collector.deps import LogCollectorDep
from eco_log_collector.models import LogPage
from eco_log_collector.service import TailFilter
from eco_shared.adapters.log_collector import Level
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/logs", tags=["logs"], dependencies=[LOGS_READ])


@router.get(
    "",
    summary="Log records of every service, newest first",
    responses=problem_responses((422, "A bad filter, time, limit or cursor")),
)
async def list_logs(
    collector: LogCollectorDep,
    service_name: Annotated[
        str | None, Query(alias="service", max_length=200, description="Only this service.")
    ] = None,
    level: Annotated[Level | None, Query(description="This level and above.")] = None,
    trace_id: TraceIdQuery = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in the message or attributes.")
    ] = None,
    since: TimeQuery = None,
    until: TimeQuery = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> LogPage:
    since_us, until_us = time_window(since, until)
    return await collector.queries.logs(
        service=service_name,
        level=level,
        trace_id=trace_id,
        q=q,
        since_us=since_us,
        until_us=until_us,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/tail",
    summary="Follow new log records live (server-sent events)",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`log` events"},
        **problem_responses(
            (422, "A bad filter or Last-Event-ID"), (503, "Too many followers already")
        ),
    },
)
async def tail_logs(
    collector: LogCollectorDep,
    service_name: Annotated[str | None, Query(alias="service", max_length=200)] = None,
    level: Annotated[Level | None, Query()] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=STREAM_ID_PATTERN, max_length=50)
    ] = None,
) -> EventSourceResponse:
    """A `ready` event once following, then one `log` event per matching record.

    Reconnecting with `Last-Event-ID` resumes after that record.
    """
    tail = collector.tail
    start = await tail.start(last_event_id)
    match = TailFilter.of(service_name, level)

    async def events() -> AsyncIterator[dict[str, Any]]:
        yield {"event": "ready", "data": json.dumps({"after": start})}
        async for entry_id, record in tail.follow(start, match):
            yield {"event": "log", "id": entry_id, "data": record.model_dump_json()}

    return EventSourceResponse(events(), ping=15)

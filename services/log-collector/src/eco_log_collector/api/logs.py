"""`GET /logs` (newest first, cursor pages) and `GET /logs/tail` (server-sent events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from eco_log_collector import repository as repo
from eco_log_collector import service
from eco_log_collector.api._params import (
    TIME_HELP,
    TRACE_ID_PATTERN,
    check_window,
    parse_cursor,
    parse_time,
)
from eco_log_collector.deps import Engine, Settings, State
from eco_log_collector.models import LogPage
from eco_shared.adapters.log_collector import Level
from eco_shared.bus import LOGS
from eco_shared.problems import ProblemError

router = APIRouter(prefix="/logs", tags=["logs"])

_STREAM_ID = r"^\d{1,20}-\d{1,20}$"


@router.get("", summary="Log records of every service, newest first")
async def list_logs(
    engine: Engine,
    settings: Settings,
    service_name: Annotated[
        str | None, Query(alias="service", max_length=200, description="Only this service.")
    ] = None,
    level: Annotated[Level | None, Query(description="This level and above.")] = None,
    trace_id: Annotated[str | None, Query(pattern=TRACE_ID_PATTERN)] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in the message or attributes.")
    ] = None,
    since: Annotated[str | None, Query(max_length=64, description=TIME_HELP)] = None,
    until: Annotated[str | None, Query(max_length=64, description=TIME_HELP)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> LogPage:
    since_us, until_us = parse_time(since, "since"), parse_time(until, "until")
    check_window(since_us, until_us)
    limit = min(limit, settings.max_page_size)
    rows = await repo.query_logs(
        engine,
        repo.LogQuery(
            service=service_name,
            min_level_no=service.level_filter(level),
            trace_id=trace_id.lower() if trace_id else None,
            q=q or None,
            since_us=since_us,
            until_us=until_us,
            limit=limit,
            after=parse_cursor(cursor),
        ),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = repo.encode_cursor(rows[-1]["time_us"], rows[-1]["id"]) if more else None
    return LogPage(items=[service.log_out(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/tail",
    summary="Follow new log records live (server-sent events)",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`log` events"}},
)
async def tail_logs(
    state: State,
    settings: Settings,
    service_name: Annotated[str | None, Query(alias="service", max_length=200)] = None,
    level: Annotated[Level | None, Query()] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=_STREAM_ID, max_length=50)
    ] = None,
) -> EventSourceResponse:
    """A `ready` event once following, then one `log` event per matching record.

    Reconnecting with `Last-Event-ID` resumes after that record.
    """
    clients: dict[str, int] = state.resources.setdefault("tail_clients", {"n": 0})
    if clients["n"] >= settings.max_tail_clients:
        raise ProblemError(
            503,
            f"{clients['n']} clients are already following the logs; try again later.",
            title="Too many tail clients",
            headers={"Retry-After": "5"},
        )
    key = state.bus.key(LOGS)
    start = last_event_id or await service.last_entry_id(state.redis, key)
    match = service.TailFilter(service=service_name, min_level_no=service.level_filter(level))

    async def events() -> AsyncIterator[dict[str, Any]]:
        clients["n"] += 1
        try:
            yield {"event": "ready", "data": json.dumps({"after": start})}
            async for entry_id, record in service.tail_logs(
                state.redis, key, start, match, settings.tail_block_ms
            ):
                yield {"event": "log", "id": entry_id, "data": record.model_dump_json()}
        finally:
            clients["n"] -= 1

    return EventSourceResponse(events(), ping=15)

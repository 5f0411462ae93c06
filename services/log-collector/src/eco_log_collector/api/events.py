"""`GET /events`: the domain events of `eco.events`, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eco_log_collector import repository as repo
from eco_log_collector import service
from eco_log_collector.api._params import (
    TIME_HELP,
    TRACE_ID_PATTERN,
    check_window,
    parse_cursor,
    parse_time,
)
from eco_log_collector.deps import Engine, Settings
from eco_log_collector.models import EventPage

router = APIRouter(prefix="/events", tags=["events"])


@router.get("", summary="Domain events, newest first")
async def list_events(
    engine: Engine,
    settings: Settings,
    type: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    trace_id: Annotated[str | None, Query(pattern=TRACE_ID_PATTERN)] = None,
    since: Annotated[str | None, Query(max_length=64, description=TIME_HELP)] = None,
    until: Annotated[str | None, Query(max_length=64, description=TIME_HELP)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> EventPage:
    since_us, until_us = parse_time(since, "since"), parse_time(until, "until")
    check_window(since_us, until_us)
    limit = min(limit, settings.max_page_size)
    rows = await repo.query_events(
        engine,
        repo.EventQuery(
            type=type,
            source=source,
            trace_id=trace_id.lower() if trace_id else None,
            since_us=since_us,
            until_us=until_us,
            limit=limit,
            after=parse_cursor(cursor),
        ),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = repo.encode_cursor(rows[-1]["time_us"], rows[-1]["id"]) if more else None
    return EventPage(items=[service.event_out(r) for r in rows], next_cursor=next_cursor)

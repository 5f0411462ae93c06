"""`GET /events`: the domain events of `eco.events`, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eco_log_collector.api._params import (
    CursorQuery,
    LimitQuery,
    TimeQuery,
    TraceIdQuery,
    time_window,
)
from eco_log_collector.api._scopes import LOGS_READ
from eco_log_collector.deps import LogCollectorDep
from eco_log_collector.models import EventPage
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/events", tags=["events"], dependencies=[LOGS_READ])


@router.get(
    "",
    summary="Domain events, newest first",
    responses=problem_responses((422, "A bad filter, time, limit or cursor")),
)
async def list_events(
    collector: LogCollectorDep,
    type: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    trace_id: TraceIdQuery = None,
    since: TimeQuery = None,
    until: TimeQuery = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> EventPage:
    since_us, until_us = time_window(since, until)
    return await collector.queries.events(
        type=type,
        source=source,
        trace_id=trace_id,
        since_us=since_us,
        until_us=until_us,
        limit=limit,
        cursor=cursor,
    )

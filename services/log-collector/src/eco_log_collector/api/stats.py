"""`GET /stats`: counts by service and level, ingest lag, dropped records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eco_log_collector.api._params import TimeQuery
from eco_log_collector.deps import LogCollectorDep
from eco_log_collector.models import Stats
from eco_log_collector.records import now_us
from eco_shared.params import TIME_HELP, check_window, parse_time_us
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get(
    "",
    summary="Counts by service and level over a window; ingest lag; drops",
    responses=problem_responses((422, "A bad time"), (503, "Redis is unavailable")),
)
async def get_stats(
    collector: LogCollectorDep,
    since: Annotated[
        str | None, Query(max_length=64, description=f"{TIME_HELP}; default 1h")
    ] = None,
    until: TimeQuery = None,
) -> Stats:
    since_us = parse_time_us(since or "1h", "since")
    until_us = parse_time_us(until, "until")
    if until_us is None:
        until_us = now_us() + 1
    assert since_us is not None
    check_window(since_us, until_us)
    return await collector.queries.stats(since_us=since_us, until_us=until_us)

"""`GET /stats`: counts by service and level, ingest lag, dropped records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eco_log_collector.api._params import TIME_SCHEMA, TimeQuery, time_window
from eco_log_collector.api._scopes import LOGS_READ
from eco_log_collector.deps import LogCollectorDep
from eco_log_collector.models import Stats
from eco_log_collector.records import now_us
from eco_shared.params import TIME_HELP
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/stats", tags=["stats"], dependencies=[LOGS_READ])


@router.get(
    "",
    summary="Counts by service and level over a window; ingest lag; drops",
    responses=problem_responses((422, "A bad time"), (503, "Redis is unavailable")),
)
async def get_stats(
    collector: LogCollectorDep,
    since: Annotated[
        str | None,
        Query(max_length=64, description=f"{TIME_HELP}; default 1h", json_schema_extra=TIME_SCHEMA),
    ] = None,
    until: TimeQuery = None,
) -> Stats:
    since_us, until_us = time_window(since, until)
    if since_us is None:
        since_us = now_us() - 3600 * 1_000_000
    if until_us is None:
        until_us = now_us() + 1
    return await collector.queries.stats(since_us=since_us, until_us=until_us)

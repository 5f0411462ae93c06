"""`GET /dependencies`: service → service calls, from parent and child spans."""

from __future__ import annotations

from fastapi import APIRouter

from eco_log_collector.api._params import SinceQuery, TimeQuery, window_or_last_hour
from eco_log_collector.api._scopes import LOGS_READ
from eco_log_collector.deps import LogCollectorDep
from eco_log_collector.models import Dependencies
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/dependencies", tags=["traces"], dependencies=[LOGS_READ])


@router.get(
    "",
    summary="Service-to-service edges with call counts, from spans that cross services",
    responses=problem_responses((422, "A bad time")),
)
async def get_dependencies(
    collector: LogCollectorDep, since: SinceQuery = None, until: TimeQuery = None
) -> Dependencies:
    """A child span of one service under a parent span of another is one call between them
    (counted in the window of the child's start; at most 1,000 edges, busiest first)."""
    since_us, until_us = window_or_last_hour(since, until)
    return await collector.span_stats.dependencies(since_us=since_us, until_us=until_us)

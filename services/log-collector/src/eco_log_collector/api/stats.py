"""`GET /stats`: counts by service and level, ingest lag, dropped records; and
`GET /stats/operations`: span figures per service and operation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eco_log_collector.api._params import SinceQuery, TimeQuery, window_or_last_hour
from eco_log_collector.api._scopes import LOGS_READ
from eco_log_collector.deps import LogCollectorDep
from eco_log_collector.models import OperationStatsList, Stats
from eco_log_collector.service import PERCENTILE_SAMPLE
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/stats", tags=["stats"], dependencies=[LOGS_READ])


@router.get(
    "",
    summary="Counts by service and level over a window; ingest lag; drops",
    responses=problem_responses((422, "A bad time"), (503, "Redis is unavailable")),
)
async def get_stats(
    collector: LogCollectorDep, since: SinceQuery = None, until: TimeQuery = None
) -> Stats:
    since_us, until_us = window_or_last_hour(since, until)
    return await collector.queries.stats(since_us=since_us, until_us=until_us)


@router.get(
    "/operations",
    summary="Span count, errors and p50/p95/max duration per service and operation",
    description=(
        "Over the spans that started in [since, until): counts, errors and the maximum are "
        f"exact; p50 and p95 (nearest rank) are over each operation's newest "
        f"{PERCENTILE_SAMPLE:,} spans of the window. At most 500 operations, busiest first "
        "(`truncated` says when there were more)."
    ),
    responses=problem_responses((422, "A bad time or service")),
)
async def get_operation_stats(
    collector: LogCollectorDep,
    since: SinceQuery = None,
    until: TimeQuery = None,
    service_name: Annotated[
        str | None, Query(alias="service", max_length=200, description="Only this service.")
    ] = None,
) -> OperationStatsList:
    since_us, until_us = window_or_last_hour(since, until)
    return await collector.span_stats.operations(
        since_us=since_us, until_us=until_us, service=service_name
    )

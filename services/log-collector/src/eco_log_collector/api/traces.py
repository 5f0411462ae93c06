"""`GET /traces/{trace_id}` (the span tree with logs and events) and `GET /traces`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from eco_log_collector.api._params import TRACE_ID_PATTERN, TimeQuery, time_us
from eco_log_collector.api._scopes import LOGS_READ
from eco_log_collector.deps import LogCollectorDep
from eco_log_collector.models import TraceDetail, TraceList
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/traces", tags=["traces"], dependencies=[LOGS_READ])


@router.get(
    "",
    summary="Recent traces, newest first",
    responses=problem_responses((422, "A bad filter, time or limit")),
)
async def list_traces(
    collector: LogCollectorDep,
    service_name: Annotated[str | None, Query(alias="service", max_length=200)] = None,
    since: TimeQuery = None,
    min_duration_ms: Annotated[float | None, Query(ge=0, le=1e9)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TraceList:
    return await collector.traces.recent(
        service=service_name,
        since_us=time_us(since, "since"),
        min_duration_ms=min_duration_ms,
        limit=limit,
    )


@router.get(
    "/{trace_id}",
    summary="One trace: span tree, logs and events in time order",
    responses=problem_responses(
        (404, "Nothing is stored for this trace id"), (422, "Not a trace id")
    ),
)
async def get_trace(
    collector: LogCollectorDep, trace_id: Annotated[str, Path(pattern=TRACE_ID_PATTERN)]
) -> TraceDetail:
    return await collector.traces.get(trace_id)

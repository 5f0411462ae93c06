"""`GET /traces/{trace_id}` (the span tree with logs and events) and `GET /traces`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from eco_log_collector import repository as repo
from eco_log_collector import service
from eco_log_collector.api._params import TIME_HELP, TRACE_ID_PATTERN, parse_time
from eco_log_collector.deps import Engine
from eco_log_collector.models import TraceDetail, TraceList
from eco_shared.problems import ProblemError

router = APIRouter(prefix="/traces", tags=["traces"])

MAX_TRACE_ITEMS = 10_000


@router.get("", summary="Recent traces, newest first")
async def list_traces(
    engine: Engine,
    service_name: Annotated[str | None, Query(alias="service", max_length=200)] = None,
    since: Annotated[str | None, Query(max_length=64, description=TIME_HELP)] = None,
    min_duration_ms: Annotated[float | None, Query(ge=0, le=1e9)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TraceList:
    return await service.recent_traces(
        engine,
        service=service_name,
        since_us=parse_time(since, "since"),
        min_duration_ms=min_duration_ms,
        limit=limit,
    )


@router.get(
    "/{trace_id}",
    summary="One trace: span tree, logs and events in time order",
    responses={404: {"description": "Nothing is stored for this trace id"}},
)
async def get_trace(
    engine: Engine, trace_id: Annotated[str, Path(pattern=TRACE_ID_PATTERN)]
) -> TraceDetail:
    trace_id = trace_id.lower()
    rows = await repo.trace_rows(engine, trace_id, MAX_TRACE_ITEMS)
    if not (rows.spans or rows.logs or rows.events):
        raise ProblemError(404, f"Nothing is stored for trace {trace_id}.", title="Trace not found")
    return service.build_trace(trace_id, rows)

"""`GET /traces/{trace_id}` (the span tree with logs and events) and `GET /traces` (search,
cursor pages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from eco_log_collector.api._params import TIME_SCHEMA, TRACE_ID_PATTERN, time_window
from eco_log_collector.api._scopes import LOGS_READ
from eco_log_collector.deps import LogCollectorDep
from eco_log_collector.models import TraceDetail, TraceList
from eco_shared.params import TIME_HELP
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/traces", tags=["traces"], dependencies=[LOGS_READ])


@router.get(
    "",
    summary="Traces, newest first: by service, operation, errors, duration and time",
    responses=problem_responses(
        (400, "A cursor this service did not hand out"),
        (422, "A bad filter, time or limit"),
    ),
)
async def list_traces(
    collector: LogCollectorDep,
    service_name: Annotated[
        str | None,
        Query(alias="service", max_length=200, description="A span of the trace is its."),
    ] = None,
    operation: Annotated[
        str | None,
        Query(
            max_length=200,
            description="A span of the trace has this name (with `service`: the same span).",
        ),
    ] = None,
    errors: Annotated[
        bool, Query(description="Only traces with at least one span in error.")
    ] = False,
    since: Annotated[
        str | None,
        Query(
            max_length=64,
            description=f"{TIME_HELP}; spans that started before it are left out",
            json_schema_extra=TIME_SCHEMA,
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            max_length=64,
            description=f"{TIME_HELP}; only traces that started before it",
            json_schema_extra=TIME_SCHEMA,
        ),
    ] = None,
    min_duration_ms: Annotated[float | None, Query(ge=0, le=1e9)] = None,
    max_duration_ms: Annotated[float | None, Query(ge=0, le=1e9)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=400, description="The `next_cursor` of the previous page."),
    ] = None,
) -> TraceList:
    since_us, until_us = time_window(since, until)
    return await collector.traces.recent(
        service=service_name,
        operation=operation,
        errors=errors,
        since_us=since_us,
        until_us=until_us,
        min_duration_ms=min_duration_ms,
        max_duration_ms=max_duration_ms,
        limit=limit,
        cursor=cursor,
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

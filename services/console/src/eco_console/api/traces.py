"""Traces: search with cursor pages, statistics per operation, two traces compared, a
trace's waterfall with the selected span and its logs, fragments."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape

from eco_shared.auth import PUBLIC
from eco_shared.problems import problem_responses

from ..deps import SettingsDep, UserDep
from ..service.compare import compare
from ..service.fetch import Fetched, fetch
from ..service.trace_search import SINCE_CHOICES, STAT_SORTS, TraceSearch, sort_stats
from ..service.waterfall import ancestors, bounds, find, layout
from ._render import render

router = APIRouter(prefix="/traces", tags=["traces"], dependencies=[PUBLIC])
TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
Text = Annotated[str | None, Query(max_length=200)]


@router.get("", summary="Search traces; find one by id", response_class=Response)
async def traces_page(
    request: Request,
    user: UserDep,
    settings: SettingsDep,
    trace_id: Annotated[str | None, Query(max_length=64)] = None,
    service: Text = None,
    operation: Text = None,
    min_ms: Annotated[str | None, Query(max_length=32)] = None,
    max_ms: Annotated[str | None, Query(max_length=32)] = None,
    errors: Annotated[str | None, Query(max_length=8)] = None,
    since: Annotated[str | None, Query(max_length=8)] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    if trace_id and TRACE_ID.match(trace_id.strip()):
        return RedirectResponse(f"/traces/{trace_id.strip().lower()}", status_code=303)
    search = TraceSearch.read(
        service=service,
        operation=operation,
        min_ms=min_ms,
        max_ms=max_ms,
        errors=errors,
        since=since,
    )
    found: Fetched = Fetched()
    if not search.problems:
        found = await fetch(
            "log-collector",
            user.eco.logs.traces(
                **search.filters(), limit=settings.page_size, cursor=cursor or None
            ),
        )
    bad = bool(search.problems) or bool(trace_id) or found.status in (400, 422)
    return render(
        request,
        "traces.html",
        user=user,
        recent=found,
        search=search,
        since_choices=SINCE_CHOICES,
        cursor=cursor or "",
        bad_id=bool(trace_id),
        status_code=422 if bad else 200,
    )


@router.get("/stats", summary="Span statistics per service and operation", response_class=Response)
async def stats_page(
    request: Request,
    user: UserDep,
    service: Text = None,
    since: Annotated[str | None, Query(max_length=8)] = None,
    sort: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    window = (since or "1h").strip()
    problems = []
    if window not in SINCE_CHOICES or not window:
        problems.append("Time is one of the choices of the form.")
        window = "1h"
    order = (sort or "count").strip()
    if order not in STAT_SORTS:
        problems.append("Sort by one of the table's columns.")
        order = "count"
    stats = await fetch(
        "log-collector", user.eco.logs.operation_stats(since=window, service=service or None)
    )
    rows = sort_stats(stats.value.items, order) if stats.value else []
    return render(
        request,
        "trace_stats.html",
        user=user,
        stats=stats,
        rows=rows,
        service=(service or "").strip(),
        since=window,
        sort=order,
        sorts=STAT_SORTS,
        since_choices={k: v for k, v in SINCE_CHOICES.items() if k},
        problems=problems,
        status_code=422 if problems else 200,
    )


@router.get(
    "/compare",
    summary="Two traces compared by their (service, operation) structure",
    response_class=Response,
)
async def compare_page(
    request: Request,
    user: UserDep,
    a: Annotated[str | None, Query(max_length=64)] = None,
    b: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    ids = {"a": (a or "").strip().lower(), "b": (b or "").strip().lower()}
    problems = [
        f"Trace {name.upper()} is 32 hexadecimal digits."
        for name, value in ids.items()
        if value and not TRACE_ID.match(value)
    ]
    comparison = None
    traces: dict[str, Fetched] = {}
    status = 422 if problems else 200
    if not problems and ids["a"] and ids["b"]:
        got_a, got_b = await asyncio.gather(
            fetch("log-collector", user.eco.logs.trace(ids["a"])),
            fetch("log-collector", user.eco.logs.trace(ids["b"])),
        )
        traces = {"a": got_a, "b": got_b}
        for name, got in traces.items():
            if got.value is None and got.error is None:
                problems.append(f"No spans of trace {name.upper()} ({ids[name]}) are stored.")
                status = 404
            elif got.error:
                status = got.status or 502
        if got_a.value is not None and got_b.value is not None:
            comparison = compare(got_a.value.roots, got_b.value.roots)
    return render(
        request,
        "trace_compare.html",
        user=user,
        ids=ids,
        traces=traces,
        comparison=comparison,
        problems=problems,
        status_code=status,
    )


@router.get(
    "/{trace_id}",
    summary="A trace: waterfall, span details and the span's logs",
    response_class=HTMLResponse,
    responses=problem_responses(404),
)
async def trace_page(
    request: Request,
    trace_id: str,
    user: UserDep,
    settings: SettingsDep,
    span: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    trace = await fetch("log-collector", user.eco.logs.trace(trace_id))
    if trace.value is None:
        return render(
            request,
            "trace.html",
            user=user,
            trace=trace,
            trace_id=trace_id,
            status_code=trace.status or 404,
        )
    reveal = (ancestors(trace.value.roots, span) or []) if span else []
    waterfall = layout(
        trace.value.roots,
        open_depth=settings.trace_open_depth,
        budget=settings.trace_row_budget,
        reveal=reveal,
    )
    selected = find(trace.value.roots, span) if span else None
    span_logs = [r for r in trace.value.logs if selected and r.span_id == selected.span_id]
    return render(
        request,
        "trace.html",
        user=user,
        trace=trace,
        trace_id=trace_id,
        waterfall=waterfall,
        selected=selected,
        span_logs=span_logs,
    )


@router.get(
    "/{trace_id}/fragments/rows",
    summary="More rows of a waterfall, or a collapsed span's subtree (htmx fragment)",
    response_class=HTMLResponse,
    responses=problem_responses(404),
)
async def rows_fragment(
    request: Request,
    trace_id: str,
    user: UserDep,
    settings: SettingsDep,
    start: Annotated[int, Query(ge=0)] = 0,
    under: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    trace = await fetch("log-collector", user.eco.logs.trace(trace_id))
    if trace.value is None:
        message = escape(trace.error or "No such trace.")
        return HTMLResponse(f"<p role='alert'>{message}</p>", status_code=404)
    roots = trace.value.roots
    trace_start, trace_ms = bounds(roots)
    base_depth = 0
    if under:
        parent = find(roots, under)
        if parent is None:
            return HTMLResponse("<p role='alert'>No such span in this trace.</p>", status_code=404)
        base_depth = len(ancestors(roots, under) or []) + 1
        roots = parent.children
    waterfall = layout(
        roots,
        open_depth=settings.trace_open_depth,
        budget=settings.trace_row_budget,
        start=start,
        trace_start=trace_start,
        trace_ms=trace_ms,
        base_depth=base_depth,
    )
    return render(
        request,
        "_rows.html",
        user=user,
        waterfall=waterfall,
        trace_id=trace_id,
        under=under,
        selected=None,
    )

"""Traces: recent ones, a trace's waterfall with the selected span and its logs, fragments."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape

from eco_shared.auth import PUBLIC
from eco_shared.problems import problem_responses

from ..deps import SettingsDep, UserDep
from ..service.fetch import fetch
from ..service.waterfall import ancestors, bounds, find, layout
from ._render import render

router = APIRouter(prefix="/traces", tags=["traces"], dependencies=[PUBLIC])
TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")


@router.get("", summary="Recent traces; find one by id", response_class=Response)
async def traces_page(
    request: Request,
    user: UserDep,
    trace_id: Annotated[str | None, Query(max_length=64)] = None,
    service: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    if trace_id and TRACE_ID.match(trace_id.strip()):
        return RedirectResponse(f"/traces/{trace_id.strip().lower()}", status_code=303)
    recent = await fetch("log-collector", user.eco.logs.traces(service=service or None, limit=50))
    return render(
        request,
        "traces.html",
        user=user,
        recent=recent,
        service=service or "",
        bad_id=bool(trace_id),
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

"""Runs: the list, a run's page (node timeline, review, cancel)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eco_shared.auth import PUBLIC
from eco_shared.pagination import decode_cursor, encode_cursor
from eco_shared.problems import problem_responses

from ..deps import CsrfChecked, PageError, SettingsDep, UserDep
from ..service.fetch import fetch
from ..service.graph import view
from ..service.timeline import TERMINAL, steps
from ._render import render

router = APIRouter(prefix="/runs", tags=["runs"], dependencies=[PUBLIC])
Status = Literal[
    "queued", "running", "waiting_review", "completed", "failed", "cancelled", "needs_clarification"
]


@router.get(
    "", summary="Runs, newest first", response_class=HTMLResponse, responses=problem_responses(400)
)
async def runs_page(
    request: Request,
    user: UserDep,
    settings: SettingsDep,
    status: Status | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    page = int(decode_cursor(cursor, int)[0]) if cursor else 1
    runs = await fetch(
        "orchestrator",
        user.eco.orchestrator.list_runs(status=status, page=page, page_size=settings.page_size),
    )
    next_cursor = None
    if runs.value and page * runs.value.page_size < runs.value.total:
        next_cursor = encode_cursor(page + 1)
    return render(
        request, "runs.html", user=user, runs=runs, status=status or "", next_cursor=next_cursor
    )


@router.get(
    "/{run_id}",
    summary="A run: status, node timeline, review, cancel",
    response_class=HTMLResponse,
    responses=problem_responses(404),
)
async def run_page(request: Request, run_id: str, user: UserDep) -> HTMLResponse:
    run = await fetch("orchestrator", user.eco.orchestrator.get_run(run_id))
    if run.value is None:
        return render(
            request,
            "run.html",
            user=user,
            run=run,
            steps=[],
            live=False,
            status_code=run.status or 502,
        )
    finished = run.value.status in TERMINAL
    events = (
        await fetch("orchestrator", user.eco.orchestrator.run_events(run_id, timeout_s=10))
        if finished
        else None
    )
    ran = steps(events.value) if events and events.value else []
    # the run graph: its nodes in their states, the path taken (the timeline follows live)
    graph = await fetch("orchestrator", user.eco.orchestrator.workflow_graph("run"))
    drawn = (
        view(
            graph.value,
            run_id=run_id,
            workflow=run.value.workflow,
            run_status=run.value.status,
            steps=ran,
            current_node=run.value.current_node,
        )
        if graph.value
        else None
    )
    return render(
        request,
        "run.html",
        user=user,
        run=run,
        steps=ran,
        events_error=events.error if events else None,
        live=not finished,
        graph=drawn,
        graph_error=graph.error,
    )


def _back(run_id: str) -> RedirectResponse:
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.post(
    "/{run_id}/review",
    summary="Approve or reject a run waiting for review",
    response_class=Response,
    responses=problem_responses(403, 409),
)
async def review(
    run_id: str,
    user: CsrfChecked,
    decision: Annotated[Literal["approve", "reject"], Form()],
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    done = await fetch(
        "orchestrator",
        user.eco.orchestrator.resume_run(
            run_id, approve=decision == "approve", comment=comment or None
        ),
    )
    if done.error:
        raise PageError(done.status or 502, "Review not recorded", done.error)
    return _back(run_id)


@router.post(
    "/{run_id}/cancel",
    summary="Cancel a run",
    response_class=Response,
    responses=problem_responses(403, 409),
)
async def cancel(run_id: str, user: CsrfChecked) -> Response:
    done = await fetch("orchestrator", user.eco.orchestrator.cancel_run(run_id))
    if done.error:
        raise PageError(done.status or 502, "Run not cancelled", done.error)
    return _back(run_id)

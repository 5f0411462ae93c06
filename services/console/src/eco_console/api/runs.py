"""Runs: the list, a run's page (graph, node timeline, review, cancel), two runs compared."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from eco_shared.adapters.orchestrator import RunPublic
from eco_shared.auth import PUBLIC
from eco_shared.pagination import decode_cursor
from eco_shared.problems import problem_responses

from ..deps import CsrfChecked, PageError, SettingsDep, User, UserDep
from ..service.fetch import Fetched, fetch
from ..service.graph import GraphView, view
from ..service.run_compare import compare_steps, elapsed_ms
from ..service.timeline import TERMINAL, NodeStep, steps
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
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> HTMLResponse:
    if cursor is not None:
        decode_cursor(cursor, int, str)  # a cursor the orchestrator did not hand out: 400
    runs = await fetch(
        "orchestrator",
        user.eco.orchestrator.list_runs(status=status, cursor=cursor, page_size=settings.page_size),
    )
    next_cursor = runs.value.next_cursor if runs.value else None
    return render(
        request,
        "runs.html",
        user=user,
        runs=runs,
        filter_status=status or "",
        cursor=cursor,
        next_cursor=next_cursor,
    )


RunId = Annotated[str | None, Query(max_length=200)]


@router.get(
    "/compare",
    summary="Two runs compared: the paths they took, node by node",
    response_class=HTMLResponse,
    responses=problem_responses(404, 409),
)
async def compare_page(
    request: Request, user: UserDep, a: RunId = None, b: RunId = None
) -> HTMLResponse:
    ids = {"a": (a or "").strip(), "b": (b or "").strip()}
    runs: dict[str, Fetched] = {}
    timelines: dict[str, list[NodeStep]] = {}
    problems: list[str] = []
    status = 200
    if ids["a"] and ids["b"]:
        orchestrator = user.eco.orchestrator
        got = await asyncio.gather(
            *(fetch("orchestrator", orchestrator.get_run(ids[n])) for n in "ab")
        )
        runs = dict(zip("ab", got, strict=True))
        for name, run in runs.items():
            if run.value is None:
                status = run.status or 502  # the fetch's sentence says why, on the page
            elif run.value.status not in TERMINAL:
                status = 409
                problems.append(
                    f"Run {name.upper()} ({ids[name]}) is {run.value.status}:"
                    " compare it when it has finished."
                )
        if status == 200:
            events = await asyncio.gather(
                *(
                    fetch("orchestrator", orchestrator.run_events(ids[n], timeout_s=10))
                    for n in "ab"
                )
            )
            for name, got_events in zip("ab", events, strict=True):
                timelines[name] = steps(got_events.value) if got_events.value else []
                if got_events.error:
                    problems.append(f"Run {name.upper()}'s events: {got_events.error}")
    comparison = compare_steps(timelines["a"], timelines["b"]) if len(timelines) == 2 else None
    wall = {
        n: elapsed_ms(run.value.started_at, run.value.finished_at)
        for n, run in runs.items()
        if run.value is not None
    }
    return render(
        request,
        "run_compare.html",
        user=user,
        ids=ids,
        runs=runs,
        wall=wall,
        comparison=comparison,
        problems=problems,
        status_code=status,
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
    drawn, graph_error = await _graph(user, run.value, ran)
    return render(
        request,
        "run.html",
        user=user,
        run=run,
        steps=ran,
        events_error=events.error if events else None,
        live=not finished,
        graph=drawn,
        graph_error=graph_error,
    )


async def _graph(
    user: User, run: RunPublic, ran: list[NodeStep]
) -> tuple[GraphView | None, str | None]:
    """The run graph: its nodes in their states and the path taken, or why there is none."""
    graph = await fetch("orchestrator", user.eco.orchestrator.workflow_graph("run"))
    if graph.value is None:
        return None, graph.error
    drawn = view(
        graph.value,
        run_id=run.run_id,
        workflow=run.workflow,
        run_status=run.status,
        steps=ran,
        current_node=run.current_node,
    )
    return drawn, None


@router.get(
    "/{run_id}/fragments/graph",
    summary="A run's graph with the path it took (a fragment for the document page)",
    response_class=HTMLResponse,
    responses=problem_responses(404),
)
async def graph_fragment(request: Request, run_id: str, user: UserDep) -> HTMLResponse:
    run = await fetch("orchestrator", user.eco.orchestrator.get_run(run_id))
    if run.value is None:
        # htmx swaps only a 2xx answer in: the sentence saying why stands in the graph's place
        return render(request, "_graph.html", user=user, graph=None, graph_error=run.error)
    ran: list[NodeStep] = []
    if run.value.status in TERMINAL:
        events = await fetch("orchestrator", user.eco.orchestrator.run_events(run_id, timeout_s=10))
        ran = steps(events.value) if events.value else []
    drawn, graph_error = await _graph(user, run.value, ran)
    return render(request, "_graph.html", user=user, graph=drawn, graph_error=graph_error)


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

"""The console's own server-sent events, as HTML: a run's progress, the runs list's changes
and the log tail; and `upstream`, the reader of a service's stream that `live_parts` (the
overview, the services list) fans in too.

Each page opens one same-origin stream (the htmx SSE extension swaps each event's HTML into
the page); the console reads the upstream stream with the user's token. Event ids are the
upstream's, so a reconnecting browser (`Last-Event-ID`, or `after` in the URL after a
pause) resumes where it left off.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Header, Query
from jinja2 import Environment
from sse_starlette import EventSourceResponse, ServerSentEvent

from eco_shared.adapters import AdapterError
from eco_shared.adapters.orchestrator import RunEvent, WorkflowGraph
from eco_shared.auth import PUBLIC
from eco_shared.http import read_problem
from eco_shared.problems import problem_responses
from eco_shared.sse import aiter_sse

from ..deps import ResourcesDep, UserDep
from ..service.clients import Eco
from ..service.fetch import explain
from ..service.graph import GraphView, view
from ..service.timeline import TERMINAL, steps

router = APIRouter(tags=["live"], dependencies=[PUBLIC])
EVENT_ID = re.compile(r"^\d+-\d+$")
Level = Literal["debug", "info", "warning", "error", "critical"]


def fragment(env: Environment, template: str, **context: object) -> str:
    return env.get_template(template).render(**context).replace("\n", " ")


async def upstream(
    eco: Eco,
    service: str,
    path: str,
    *,
    params: dict[str, str],
    last_id: str | None,
    on_open: Callable[[], object] | None = None,
) -> AsyncIterator[tuple[str, str, str]]:
    """(id, event, data) of a service's SSE stream, read as the user (`on_open` is called
    once the service has answered 200: from then on no event of it is missed)."""
    base = await eco.directory.resolve(service)
    response = await eco.http.request(
        "GET",
        base + path,
        service=service,
        operation=f"GET {path}",
        params=params,
        headers={"Last-Event-ID": last_id} if last_id else {},
        timeout=httpx.Timeout(10.0, read=None),
        stream=True,
    )
    try:
        if response.status_code != 200:
            await response.aread()
            raise AdapterError(service, response.status_code, read_problem(response))
        if on_open is not None:
            on_open()
        async for event in aiter_sse(response.aiter_lines()):
            yield event.id, event.event, event.data
    finally:
        await response.aclose()


def _resume_from(last_event_id: str | None, after: str | None) -> str | None:
    for value in (last_event_id, after):
        if value and EVENT_ID.match(value):
            return value
    return None


RunStatus = Literal[
    "queued", "running", "waiting_review", "completed", "failed", "cancelled", "needs_clarification"
]


# before `/runs/{run_id}/live`, so `watch` is not taken for a run id
@router.get(
    "/runs/watch/live",
    summary="The runs list's changes as HTML fragments (server-sent events)",
    response_class=EventSourceResponse,
    responses=problem_responses(401),
)
async def runs_watch_live(
    user: UserDep,
    resources: ResourcesDep,
    status: RunStatus | None = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=41)] = None,
    after: Annotated[str | None, Query(max_length=41)] = None,
) -> EventSourceResponse:
    """`status`: each change's new status for the rows on the page (`run_status.html`);
    `created`: a new run's row (`run_row.html`) for the "N new runs" bar, when it fits the
    list's status filter."""
    env = resources.templates

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            async for event_id, kind, data in upstream(
                user.eco,
                "orchestrator",
                "/runs/watch",
                params={},
                last_id=_resume_from(last_event_id, after),
            ):
                try:
                    change = json.loads(data)
                except ValueError:
                    continue
                run_id, value = change.get("run_id"), change.get("status")
                if not isinstance(run_id, str) or not isinstance(value, str):
                    continue
                if kind == "run.created" and status in (None, value):
                    try:
                        run = await user.eco.orchestrator.get_run(run_id)
                    except AdapterError:
                        run = None
                    if run is not None:
                        row = fragment(env, "run_row.html", r=run)
                        yield ServerSentEvent(data=row, event="created", id=event_id)
                html = fragment(env, "run_status.html", run_id=run_id, value=value)
                yield ServerSentEvent(data=html, event="status", id=event_id)
        except Exception as exc:  # noqa: BLE001 - the reader sees why the stream stopped
            message, _ = explain("orchestrator", exc)
            yield ServerSentEvent(
                data=fragment(env, "_stream_error.html", message=message), event="problem"
            )

    return EventSourceResponse(stream(), ping=15)


@router.get(
    "/runs/{run_id}/live",
    summary="A run's progress as HTML fragments (server-sent events)",
    response_class=EventSourceResponse,
    responses=problem_responses(401),
)
async def run_live(
    run_id: str,
    user: UserDep,
    resources: ResourcesDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=41)] = None,
    after: Annotated[str | None, Query(max_length=41)] = None,
) -> EventSourceResponse:
    env = resources.templates
    resume = _resume_from(last_event_id, after)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        # read from the start, so the graph knows every node's state; only what comes after
        # `resume` is sent again
        seen: list[RunEvent] = []
        shape = await _run_shape(user.eco)
        try:
            async for event_id, kind, data in upstream(
                user.eco, "orchestrator", f"/runs/{run_id}/events", params={}, last_id=None
            ):
                try:
                    body = json.loads(data)
                except ValueError:
                    body = {"text": data}
                seen.append(RunEvent(id=event_id, event=kind, data=body))
                if resume is not None and _stream_id(event_id) <= _stream_id(resume):
                    continue
                html = fragment(
                    env, "_event.html", id=event_id, kind=kind, data=body, run_id=run_id
                )
                yield ServerSentEvent(data=html, event="progress", id=event_id)
                settled = kind.startswith("run.") and kind.removeprefix("run.") in TERMINAL | {
                    "waiting_review"
                }
                if shape is not None and (kind in GRAPH_EVENTS or settled):
                    drawn = await _drawn(user.eco, shape, run_id, seen)
                    if drawn is not None:
                        body_html = fragment(env, "run_graph_body.html", graph=drawn)
                        yield ServerSentEvent(data=body_html, event="graph", id=event_id)
                if settled:
                    yield ServerSentEvent(
                        data=fragment(env, "_run_done.html", kind=kind, run_id=run_id, data=body),
                        event="finished",
                        id=event_id,
                    )
        except Exception as exc:  # noqa: BLE001 - the reader sees why the stream stopped
            message, _ = explain("orchestrator", exc)
            yield ServerSentEvent(
                data=fragment(env, "_stream_error.html", message=message), event="problem"
            )

    return EventSourceResponse(stream(), ping=15)


# the events that move a node of the graph to another state
GRAPH_EVENTS = frozenset({"node.started", "node.finished", "node.failed"})


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


async def _run_shape(eco: Eco) -> WorkflowGraph | None:
    """The run graph (None when the orchestrator cannot say: the timeline still follows)."""
    try:
        return await eco.orchestrator.workflow_graph("run")
    except Exception:  # noqa: BLE001 - the graph is left as drawn; the timeline goes on
        return None


async def _drawn(
    eco: Eco, shape: WorkflowGraph, run_id: str, seen: list[RunEvent]
) -> GraphView | None:
    """The graph in the states `seen` puts its nodes in (the run read for its workflow)."""
    try:
        run = await eco.orchestrator.get_run(run_id)
    except Exception:  # noqa: BLE001
        return None
    return view(
        shape,
        run_id=run_id,
        workflow=run.workflow,
        run_status=run.status,
        steps=steps(seen),
        current_node=run.current_node,
    )


@router.get(
    "/logs/live",
    summary="New log records as HTML rows (server-sent events)",
    response_class=EventSourceResponse,
    responses=problem_responses(401),
)
async def logs_live(
    user: UserDep,
    resources: ResourcesDep,
    service: Annotated[str | None, Query(max_length=64)] = None,
    level: Level | None = None,
) -> EventSourceResponse:
    env = resources.templates

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            async for record in user.eco.logs.tail(service=service or None, level=level):
                yield ServerSentEvent(
                    data=fragment(env, "_log_row.html", r=record), event="log", id=record.event_id
                )
        except Exception as exc:  # noqa: BLE001
            message, _ = explain("log-collector", exc)
            yield ServerSentEvent(
                data=fragment(env, "_stream_error.html", message=message), event="problem"
            )

    return EventSourceResponse(stream(), ping=15)

"""The console's own server-sent events: a run's progress and the log tail, as HTML.

Each page opens one same-origin stream (the htmx SSE extension swaps each event's HTML into
the page); the console reads the upstream stream with the user's token. Event ids are the
upstream's, so a reconnecting browser (`Last-Event-ID`, or `after` in the URL after a
pause) resumes where it left off.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Header, Query
from jinja2 import Environment
from sse_starlette import EventSourceResponse, ServerSentEvent

from eco_shared.adapters import AdapterError
from eco_shared.auth import PUBLIC
from eco_shared.http import read_problem
from eco_shared.problems import problem_responses
from eco_shared.sse import aiter_sse

from ..deps import ResourcesDep, UserDep
from ..service.clients import Eco
from ..service.fetch import explain
from ..service.timeline import TERMINAL

router = APIRouter(tags=["live"], dependencies=[PUBLIC])
EVENT_ID = re.compile(r"^\d+-\d+$")
Level = Literal["debug", "info", "warning", "error", "critical"]


def _html(env: Environment, template: str, **context: object) -> str:
    return env.get_template(template).render(**context).replace("\n", " ")


async def _upstream(
    eco: Eco, service: str, path: str, *, params: dict[str, str], last_id: str | None
) -> AsyncIterator[tuple[str, str, str]]:
    """(id, event, data) of a service's SSE stream, read as the user."""
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
        async for event in aiter_sse(response.aiter_lines()):
            yield event.id, event.event, event.data
    finally:
        await response.aclose()


def _resume_from(last_event_id: str | None, after: str | None) -> str | None:
    for value in (last_event_id, after):
        if value and EVENT_ID.match(value):
            return value
    return None


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

    async def stream() -> AsyncIterator[ServerSentEvent]:
        try:
            async for event_id, kind, data in _upstream(
                user.eco,
                "orchestrator",
                f"/runs/{run_id}/events",
                params={},
                last_id=_resume_from(last_event_id, after),
            ):
                try:
                    body = json.loads(data)
                except ValueError:
                    body = {"text": data}
                html = _html(env, "_event.html", id=event_id, kind=kind, data=body, run_id=run_id)
                yield ServerSentEvent(data=html, event="progress", id=event_id)
                if kind.startswith("run.") and kind.removeprefix("run.") in TERMINAL | {
                    "waiting_review"
                }:
                    yield ServerSentEvent(
                        data=_html(env, "_run_done.html", kind=kind, run_id=run_id, data=body),
                        event="finished",
                        id=event_id,
                    )
        except Exception as exc:  # noqa: BLE001 - the reader sees why the stream stopped
            message, _ = explain("orchestrator", exc)
            yield ServerSentEvent(
                data=_html(env, "_stream_error.html", message=message), event="problem"
            )

    return EventSourceResponse(stream(), ping=15)


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
                    data=_html(env, "_log_row.html", r=record), event="log", id=record.event_id
                )
        except Exception as exc:  # noqa: BLE001
            message, _ = explain("log-collector", exc)
            yield ServerSentEvent(
                data=_html(env, "_stream_error.html", message=message), event="problem"
            )

    return EventSourceResponse(stream(), ping=15)

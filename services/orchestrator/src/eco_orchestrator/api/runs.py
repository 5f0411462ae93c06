"""`/runs`: status, listing, live events (resumable), cancel and review resume."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from eco_orchestrator.deps import EventsDep, OrchestratorDep, SettingsDep
from eco_orchestrator.events import FINAL_EVENTS
from eco_orchestrator.models import (
    TERMINAL,
    CancelAccepted,
    ResumeRequest,
    RunPage,
    RunPublic,
    RunStatus,
)

router = APIRouter(prefix="/runs", tags=["runs"])

_EVENT_ID = r"^\d{1,20}-\d{1,20}$"


@router.get("", summary="List runs, newest first")
async def list_runs(
    orchestrator: OrchestratorDep,
    settings: SettingsDep,
    status: RunStatus | None = None,
    user_id: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunPage:
    size = min(page_size, settings.max_page_size)
    runs, total = await orchestrator.repo.list(
        status=status, user_id=user_id, page=page, page_size=size
    )
    return RunPage(items=[RunPublic.of(r) for r in runs], total=total, page=page, page_size=size)


@router.get("/{run_id}", summary="A run: status, current node, result, error")
async def get_run(run_id: str, orchestrator: OrchestratorDep) -> RunPublic:
    return RunPublic.of(await orchestrator.get(run_id))


@router.get(
    "/{run_id}/events",
    summary="The run's events as server-sent events (resumable with Last-Event-ID)",
    response_class=EventSourceResponse,
)
async def run_events(
    run_id: str,
    orchestrator: OrchestratorDep,
    events: EventsDep,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=_EVENT_ID, max_length=41)
    ] = None,
    after: Annotated[str | None, Query(pattern=_EVENT_ID, max_length=41)] = None,
) -> EventSourceResponse:
    run = await orchestrator.get(run_id)
    start = last_event_id or after or "0-0"
    finished = run.status in TERMINAL

    async def stream() -> AsyncIterator[ServerSentEvent]:
        if finished:
            # a finished run: replay what is left and close
            for event in await events.read(run_id, start, count=10_000):
                yield _sse(event)
            return
        async for event in events.follow(run_id, start):
            if event is None:
                yield ServerSentEvent(comment="keep-alive")
                continue
            yield _sse(event)
            if event["type"] in FINAL_EVENTS:
                return

    return EventSourceResponse(stream(), ping=15)


def _sse(event: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(
        id=event["id"],
        event=event["type"],
        data=json.dumps({"type": event["type"], "time": event["time"], **event["data"]}),
    )


@router.post("/{run_id}/cancel", status_code=202, summary="Cancel a run")
async def cancel_run(run_id: str, orchestrator: OrchestratorDep) -> CancelAccepted:
    run = await orchestrator.cancel(run_id)
    return CancelAccepted(run_id=run.id, status=run.status)


@router.post("/{run_id}/resume", status_code=202, summary="Approve or reject a paused run")
async def resume_run(run_id: str, body: ResumeRequest, orchestrator: OrchestratorDep) -> RunPublic:
    return RunPublic.of(await orchestrator.resume(run_id, body))

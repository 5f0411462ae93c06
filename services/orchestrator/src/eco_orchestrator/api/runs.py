"""`/runs`: status, listing, live events (resumable), cancel and review resume."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from eco_orchestrator.api._problems import MALFORMED, NO_RUN
from eco_orchestrator.deps import OrchestratorDep, SettingsDep
from eco_orchestrator.events import RunEvent
from eco_shared.adapters.orchestrator import (
    CancelAccepted,
    FeedbackAccepted,
    FeedbackRequest,
    ResumeRequest,
    RunPage,
    RunPublic,
    RunStatus,
)
from eco_shared.auth import Principal, require
from eco_shared.pagination import decode_cursor
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/runs", tags=["runs"])
Reader = Annotated[Principal, require("runs:read")]
Writer = Annotated[Principal, require("runs:write")]

_EVENT_ID = r"^\d{1,20}-\d{1,20}$"


@router.get(
    "",
    summary="List the caller's runs (everyone's with runs:read:all), newest first",
    responses=problem_responses((400, "A cursor this service did not hand out"), 422),
)
async def list_runs(
    orchestrator: OrchestratorDep,
    settings: SettingsDep,
    caller: Reader,
    status: RunStatus | None = None,
    user_id: Annotated[
        str | None, Query(max_length=200, description="The user id the query claimed.")
    ] = None,
    owner: Annotated[
        str | None, Query(max_length=200, description="The owner (for runs:read:all callers).")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(
            max_length=400,
            description="The `next_cursor` of the previous page (keyset paging; "
            "then `page` is not read).",
        ),
    ] = None,
    page: Annotated[int, Query(ge=1, le=100_000, description="Offset paging (older callers).")] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunPage:
    after: tuple[int, str] | None = None
    if cursor is not None:  # keyset paging: the cursor says where, `page` is not read
        after, page = decode_cursor(cursor, int, str), 1
    size = min(page_size, settings.max_page_size)
    runs, total, next_cursor = await orchestrator.list_runs(
        caller,
        status=status,
        user_id=user_id,
        owner=owner,
        page=page,
        page_size=size,
        after=after,
    )
    return RunPage(
        items=[r.public() for r in runs],
        total=total,
        page=page,
        page_size=size,
        next_cursor=next_cursor,
    )


@router.get(
    "/{run_id}",
    summary="A run: status, current node, result, error",
    responses=problem_responses(NO_RUN),
)
async def get_run(run_id: str, orchestrator: OrchestratorDep, caller: Reader) -> RunPublic:
    return (await orchestrator.get(run_id, caller)).public()


@router.get(
    "/{run_id}/events",
    summary="The run's events as server-sent events (resumable with Last-Event-ID)",
    response_class=EventSourceResponse,
    responses=problem_responses(NO_RUN, (422, "`Last-Event-ID` or `after` is not an event id")),
)
async def run_events(
    run_id: str,
    orchestrator: OrchestratorDep,
    caller: Reader,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=_EVENT_ID, max_length=41)
    ] = None,
    after: Annotated[str | None, Query(pattern=_EVENT_ID, max_length=41)] = None,
) -> EventSourceResponse:
    run = await orchestrator.get(run_id, caller)
    feed = orchestrator.event_feed(run, last_event_id or after or "0-0")

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async for event in feed:
            if event is None:
                yield ServerSentEvent(comment="keep-alive")
                continue
            yield _sse(event)

    return EventSourceResponse(stream(), ping=15)


def _sse(event: RunEvent) -> ServerSentEvent:
    return ServerSentEvent(
        id=event["id"],
        event=event["type"],
        data=json.dumps({"type": event["type"], "time": event["time"], **event["data"]}),
    )


@router.post(
    "/{run_id}/cancel",
    status_code=202,
    summary="Cancel a run",
    responses=problem_responses(NO_RUN, (409, "The run has already finished")),
)
async def cancel_run(run_id: str, orchestrator: OrchestratorDep, caller: Writer) -> CancelAccepted:
    run = await orchestrator.cancel(run_id, caller)
    return CancelAccepted(run_id=run.id, status=run.status)


@router.post(
    "/{run_id}/resume",
    status_code=202,
    summary="Approve or reject a paused run",
    responses=problem_responses(MALFORMED, NO_RUN, (409, "The run is not waiting for review")),
)
async def resume_run(
    run_id: str, body: ResumeRequest, orchestrator: OrchestratorDep, caller: Writer
) -> RunPublic:
    return (await orchestrator.resume(run_id, body, caller)).public()


@router.post(
    "/{run_id}/feedback",
    status_code=202,
    summary="Rate a finished run (up/down or a score): passed on as `run.feedback`",
    responses=problem_responses(
        MALFORMED,
        NO_RUN,
        (409, "The run has not finished"),
        (422, "Neither or both of `rating` and `score`, or a score outside 0..1"),
    ),
)
async def run_feedback(
    run_id: str, body: FeedbackRequest, orchestrator: OrchestratorDep, caller: Writer
) -> FeedbackAccepted:
    run = await orchestrator.feedback(run_id, body, caller)
    verdict = body.model_dump()
    return FeedbackAccepted(run_id=run.id, rating=verdict.get("rating"), score=verdict.get("score"))

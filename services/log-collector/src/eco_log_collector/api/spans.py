"""`GET /spans/{span_id}`: which stored trace holds a span."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from eco_log_collector.api._params import SPAN_ID_PATTERN
from eco_log_collector.api._scopes import LOGS_READ
from eco_log_collector.deps import LogCollectorDep
from eco_log_collector.models import SpanRef
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/spans", tags=["traces"], dependencies=[LOGS_READ])


@router.get(
    "/{span_id}",
    summary="The trace that holds a span, and the span in brief",
    responses=problem_responses(
        (404, "No stored trace holds this span id"), (422, "Not a span id")
    ),
)
async def get_span(
    collector: LogCollectorDep, span_id: Annotated[str, Path(pattern=SPAN_ID_PATTERN)]
) -> SpanRef:
    return await collector.traces.span(span_id)

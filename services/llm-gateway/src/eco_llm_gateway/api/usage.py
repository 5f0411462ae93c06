"""`GET /v1/usage` (totals by caller and provider) and `GET /v1/usage/log` (the calls)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eco_llm_gateway.deps import LlmGatewayDep
from eco_shared.models.llm_gateway import UsageLog, UsageReport
from eco_shared.params import TIME_HELP, parse_time
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/v1/usage", tags=["usage"])

SinceQuery = Annotated[
    str | None, Query(max_length=64, description=f"Only calls from then on: {TIME_HELP}.")
]
CallerQuery = Annotated[str | None, Query(max_length=64, description="Only this caller.")]


@router.get(
    "",
    summary="Calls, tokens, estimated cost and cache hits by caller and provider",
    responses=problem_responses((422, "since is not a time, or a parameter is too long")),
)
async def get_usage(
    gateway: LlmGatewayDep,
    caller: CallerQuery = None,
    since: SinceQuery = None,
    provider: Annotated[str | None, Query(max_length=64, description="Only this provider.")] = None,
) -> UsageReport:
    """Totals since `since` (default: everything retained)."""
    return await gateway.usage(caller=caller, since=parse_time(since, "since"), provider=provider)


@router.get(
    "/log",
    summary="The usage log: each call with its classification and route",
    responses=problem_responses((422, "since is not a time, or limit is out of 1..1000")),
)
async def get_usage_log(
    gateway: LlmGatewayDep,
    caller: CallerQuery = None,
    since: SinceQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> UsageLog:
    """Newest first."""
    return await gateway.usage_log(caller=caller, since=parse_time(since, "since"), limit=limit)

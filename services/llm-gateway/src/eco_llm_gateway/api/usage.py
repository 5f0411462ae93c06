"""`GET /v1/usage` (totals by caller and provider) and `GET /v1/usage/log` (the calls): the
caller's own, everyone's with `gateway:read:all`."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from eco_llm_gateway.deps import LlmGatewayDep, ReaderDep
from eco_shared.models.llm_gateway import UsageLog, UsageReport
from eco_shared.params import TIME_HELP, parse_time
from eco_shared.problems import ValidationProblem, problem_responses

router = APIRouter(prefix="/v1/usage", tags=["usage"])

# What `since` accepts, exactly as the schema says: an age or epoch seconds (the pattern),
# or an RFC 3339 time (`format: date-time`); parse_time reads all three.
_AGE_OR_EPOCH = r"^(\d{1,9}(\.\d+)?(ms|s|m|h|d|w)|\d{1,12}(\.\d+)?)$"
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_SINCE_SCHEMA = {
    "anyOf": [
        {"type": "string", "maxLength": 64, "pattern": _AGE_OR_EPOCH},
        {"type": "string", "maxLength": 64, "format": "date-time"},
        {"type": "null"},
    ]
}
SinceQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description=f"Only calls from then on: {TIME_HELP}.",
        json_schema_extra=_SINCE_SCHEMA,
    ),
]


def since_epoch(value: str | None) -> float | None:
    """Epoch seconds of `since`, read the way its schema says (400 otherwise)."""
    if value is None:
        return None
    if re.fullmatch(_AGE_OR_EPOCH, value, re.ASCII) is None and not _RFC3339.fullmatch(value):
        raise ValidationProblem.field("query", "since", f"not a time; use {TIME_HELP}")
    try:
        seconds = parse_time(value, "since")
        # Nothing is older than the epoch (stream ids cannot be negative).
        return None if seconds is None else max(0.0, seconds)
    except ValidationProblem:
        try:
            moment = datetime.fromisoformat(value.upper())
        except ValueError:
            raise ValidationProblem.field("query", "since", "not a valid date or time") from None
        # A real time beyond what a timestamp holds: before every call, or after.
        return 0.0 if moment.year < 1970 else 253402300799.0


CallerQuery = Annotated[
    str | None,
    Query(
        max_length=256,
        description="Only this caller (a principal's subject, e.g. `user:alice`); without "
        "gateway:read:all only one's own calls are there to see.",
    ),
]


@router.get(
    "",
    summary="Calls, tokens, estimated cost and cache hits by caller and provider (one's own; "
    "everyone's with gateway:read:all)",
    responses=problem_responses((422, "since is not a time, or a parameter is too long")),
)
async def get_usage(
    gateway: LlmGatewayDep,
    principal: ReaderDep,
    caller: CallerQuery = None,
    since: SinceQuery = None,
    provider: Annotated[str | None, Query(max_length=64, description="Only this provider.")] = None,
) -> UsageReport:
    """Totals since `since` (default: everything retained)."""
    return await gateway.usage(
        principal, caller=caller, since=since_epoch(since), provider=provider
    )


@router.get(
    "/log",
    summary="The usage log: each call with its classification and route (one's own; "
    "everyone's with gateway:read:all)",
    responses=problem_responses(
        (422, "since is not a time, limit is out of 1..1000, or run_id is not an id")
    ),
)
async def get_usage_log(
    gateway: LlmGatewayDep,
    principal: ReaderDep,
    caller: CallerQuery = None,
    since: SinceQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    run_id: Annotated[
        str | None,
        Query(
            max_length=128,
            pattern=r"^[A-Za-z0-9._:-]+$",
            description="Only the calls made for this run (recorded from the caller's "
            "verified run token).",
        ),
    ] = None,
) -> UsageLog:
    """Newest first."""
    return await gateway.usage_log(
        principal, caller=caller, since=since_epoch(since), limit=limit, run_id=run_id
    )

"""`GET /v1/usage` (totals by caller and provider) and `GET /v1/usage/log` (the calls)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from eco_llm_gateway.deps import GatewayDep
from eco_llm_gateway.models import UsageLog, UsageLogEntry, UsageReport
from eco_llm_gateway.service import usage_report
from eco_shared.problems import ProblemError

router = APIRouter(prefix="/v1/usage", tags=["usage"])

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SinceQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="RFC 3339 time, epoch seconds, or a duration back from now (15m, 24h, 7d).",
    ),
]
CallerQuery = Annotated[str | None, Query(max_length=64, description="Only this caller.")]


def parse_since(value: str | None, now: float | None = None) -> float | None:
    """Epoch seconds of a `since` parameter, or a 422 problem explaining the forms accepted."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    now = time.time() if now is None else now
    relative = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", text)
    if relative:
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ProblemError(
            422,
            f"since={value!r} is neither an RFC 3339 time, epoch seconds, nor a duration like 24h.",
            title="Invalid since",
            type="urn:eco:problem:validation",
            errors=[{"loc": ["query", "since"], "msg": "invalid time", "type": "value_error"}],
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@router.get("", summary="Calls, tokens, estimated cost and cache hits by caller and provider")
async def get_usage(
    gateway: GatewayDep,
    caller: CallerQuery = None,
    since: SinceQuery = None,
    provider: Annotated[str | None, Query(max_length=64, description="Only this provider.")] = None,
) -> UsageReport:
    """Totals since `since` (default: everything retained)."""
    return await usage_report(gateway, caller=caller, since=parse_since(since), provider=provider)


@router.get("/log", summary="The usage log: each call with its classification and route")
async def get_usage_log(
    gateway: GatewayDep,
    caller: CallerQuery = None,
    since: SinceQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> UsageLog:
    """Newest first."""
    entries = await gateway.repo.usage_log(since=parse_since(since), caller=caller, limit=limit)
    return UsageLog(entries=[UsageLogEntry.model_validate(e) for e in entries])

"""LLM usage: calls, tokens and cost by provider, model and principal, over a window.

The gateway's report (`GET /v1/usage`) gives totals by caller and provider; the model of
each call is only in its usage log (`GET /v1/usage/log`), so the by-model table is summed
from the window's log entries (at most `LOG_LIMIT` of them, and the page says when the
window holds more). A principal sees their own calls unless their key holds
`gateway:read:all`. Usage records carry no run id, so nothing here links to a run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from eco_shared.adapters.llm_gateway import UsageLogEntry
from eco_shared.auth import PUBLIC

from ..deps import UserDep
from ..service.fetch import fetch
from ._render import render

router = APIRouter(prefix="/usage", tags=["usage"], dependencies=[PUBLIC])
SERVICE = "llm-gateway"
LOG_LIMIT = 1000
Window = Literal["today", "1h", "7d"]
WINDOWS: dict[str, str] = {
    "today": "today (since 00:00 UTC)",
    "1h": "the last hour",
    "7d": "the last 7 days",
}


@dataclass
class ModelRow:
    """Calls of one (provider, model, principal) in the window."""

    provider: str
    model: str
    caller: str
    calls: int = 0
    errors: int = 0
    cache_hits: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


def by_model(entries: list[UsageLogEntry], provider: str | None) -> list[ModelRow]:
    """The log entries summed by provider, model and caller, most calls first."""
    rows: dict[tuple[str, str, str], ModelRow] = {}
    for e in entries:
        if provider and e.provider != provider:
            continue
        key = (e.provider, e.model, e.caller)
        row = rows.get(key) or rows.setdefault(key, ModelRow(*key))
        row.calls += 1
        row.errors += e.status >= 400
        row.cache_hits += e.cache_hit
        row.tokens_in += e.tokens_in
        row.tokens_out += e.tokens_out
        row.cost_usd += e.cost_usd
    return sorted(rows.values(), key=lambda r: (-r.calls, r.provider, r.model, r.caller))


def _since(window: Window) -> str:
    if window == "today":
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight.isoformat()
    return window


@router.get("", summary="LLM usage by provider, model and principal", response_class=HTMLResponse)
async def usage_page(
    request: Request,
    user: UserDep,
    window: Window = "today",
    caller: Annotated[str | None, Query(max_length=256)] = None,
    provider: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    gateway = user.eco.gateway
    since = _since(window)
    report, log = await asyncio.gather(
        fetch(
            SERVICE, gateway.usage(caller=caller or None, since=since, provider=provider or None)
        ),
        fetch(SERVICE, gateway.usage_log(caller=caller or None, since=since, limit=LOG_LIMIT)),
    )
    return render(
        request,
        "usage.html",
        user=user,
        report=report,
        log=log,
        models=by_model(log.value, provider or None) if log.value is not None else [],
        truncated=log.value is not None and len(log.value) >= LOG_LIMIT,
        windows=WINDOWS,
        filters={"window": window, "caller": caller or "", "provider": provider or ""},
    )

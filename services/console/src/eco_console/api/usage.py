"""LLM usage: calls, tokens and cost by provider, model and principal, over a window.

The gateway's report (`GET /v1/usage`) gives totals by caller and provider; the model of
each call is only in its usage log (`GET /v1/usage/log`), so the by-model table is summed
from the window's log entries (at most `LOG_LIMIT` of them, and the page says when the
window holds more). A principal sees their own calls unless their key holds
`gateway:read:all`. A call made for a run carries its run id (the gateway records it from
the run's verified token), so the page sums the window by run too, each linked to
`/runs/{id}`, and `/usage/fragments/run/{id}` is that run's calls for the run page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
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


@dataclass
class RunRow:
    """Calls made for one run (by one principal) in the window."""

    run_id: str
    caller: str
    calls: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    models: set[str] = field(default_factory=set)


def by_run(entries: list[UsageLogEntry], provider: str | None) -> list[RunRow]:
    """The log entries made for a run, summed by run and caller, the newest run first."""
    rows: dict[tuple[str, str], RunRow] = {}
    for e in entries:  # newest first, so the first row made is the newest run
        if e.run_id is None or (provider and e.provider != provider):
            continue
        key = (e.run_id, e.caller)
        row = rows.get(key) or rows.setdefault(key, RunRow(*key))
        row.calls += 1
        row.errors += e.status >= 400
        row.tokens_in += e.tokens_in
        row.tokens_out += e.tokens_out
        row.cost_usd += e.cost_usd
        row.models.add(f"{e.provider}/{e.model}" if e.model else e.provider)
    return list(rows.values())


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
        runs=by_run(log.value, provider or None) if log.value is not None else [],
        truncated=log.value is not None and len(log.value) >= LOG_LIMIT,
        windows=WINDOWS,
        filters={"window": window, "caller": caller or "", "provider": provider or ""},
    )


RUN_ID = Path(max_length=128, pattern=r"^[A-Za-z0-9._:-]+$", description="A run id.")


@router.get(
    "/fragments/run/{run_id}",
    summary="The LLM calls made for one run (a fragment for the run page)",
    response_class=HTMLResponse,
)
async def run_usage_fragment(
    request: Request, user: UserDep, run_id: Annotated[str, RUN_ID]
) -> HTMLResponse:
    log = await fetch(SERVICE, user.eco.gateway.usage_log(run_id=run_id, limit=LOG_LIMIT))
    entries = log.value or []
    return render(
        request,
        "_usage_run.html",
        user=user,
        run_id=run_id,
        log=log,
        entries=entries,
        totals=by_run(entries, None),
        truncated=len(entries) >= LOG_LIMIT,
    )

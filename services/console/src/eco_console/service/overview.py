"""The parts of the live pages, each fetched on its own: a page draws all of its parts at
once, and its live stream redraws the ones an upstream change touched. The overview has
four (services, runs, errors, usage); the services page one (every service's instances)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime

from eco_shared.models.log_collector import LogRecordOut

from .clients import Eco
from .fetch import Fetched, fetch

RECENT = 10


async def services(eco: Eco) -> dict[str, Fetched]:
    return {"services": await fetch("discovery", eco.discovery.list_services())}


async def runs(eco: Eco) -> dict[str, Fetched]:
    orchestrator = eco.orchestrator
    return {
        "running": await fetch(
            "orchestrator", orchestrator.list_runs(status="running", page_size=RECENT)
        ),
        "waiting": await fetch(
            "orchestrator", orchestrator.list_runs(status="waiting_review", page_size=RECENT)
        ),
    }


async def errors(eco: Eco, heard: Iterable[LogRecordOut] = ()) -> dict[str, Fetched]:
    """The newest error records; with `heard`, the records the live tail has already sent,
    which the collector may not have stored yet (the tail reads the stream, not the table)."""
    got = await fetch("log-collector", eco.logs.logs(level="error", limit=RECENT))
    extra = list(heard)
    if got.value is None or not extra:
        return {"errors": got}
    merged = {r.event_id: r for r in [*got.value.items, *extra]}
    newest = sorted(merged.values(), key=lambda r: r.time, reverse=True)[:RECENT]
    return {"errors": Fetched(value=got.value.model_copy(update={"items": newest}))}


async def usage(eco: Eco) -> dict[str, Fetched]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    return {"usage": await fetch("llm-gateway", eco.gateway.usage(since=today))}


async def instances(eco: Eco) -> dict[str, object]:
    """Every registered service with its instances (leases, checks), as of `now`."""
    listing = await fetch("discovery", eco.discovery.list_services())
    names = [s.name for s in listing.value.services] if listing.value else []
    found = await asyncio.gather(*(fetch("discovery", eco.discovery.get_service(n)) for n in names))
    return {
        "listing": listing,
        "instances": dict(zip(names, found, strict=True)),
        "now": datetime.now(UTC),
    }


# the overview's parts: a run's change moves the runs and today's usage
PARTS = {"services": services, "runs": runs, "errors": errors, "usage": usage}

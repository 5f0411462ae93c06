"""Reports: provider health, latency and error rate; usage totals by caller and provider."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime

from eco_llm_gateway.providers import Provider, ProviderError
from eco_llm_gateway.repository import METRICS_INT, GatewayRepository
from eco_shared.http import ServiceClient
from eco_shared.models.llm_gateway import (
    CallerUsage,
    Health,
    LatencyStats,
    ProbeResult,
    ProviderStatus,
    UsageReport,
    UsageTotals,
)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))
    return round(ordered[rank], 2)


async def probe(provider: Provider) -> ProbeResult:
    """Call a provider's `check()` now, bounded by its timeout."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(provider.check(), provider.config.timeout_s + 1)
    except ProviderError as exc:
        return ProbeResult(
            ok=False,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            error=f"{exc.kind}: {exc.detail}",
        )
    except TimeoutError:
        return ProbeResult(
            ok=False, duration_ms=round((time.perf_counter() - started) * 1000, 2), error="timeout"
        )
    return ProbeResult(ok=True, duration_ms=round((time.perf_counter() - started) * 1000, 2))


def _health(
    provider: Provider,
    probed: ProbeResult | None,
    circuit: str | None,
    recent: list[dict[str, object]],
    error_rate: float | None,
) -> Health:
    if provider.kind == "offline":
        return "healthy"  # nothing to reach
    if probed is not None:
        return "healthy" if probed.ok else "down"
    if circuit == "open" or (len(recent) >= 3 and all(not r.get("ok") for r in recent[:3])):
        return "down"
    if error_rate is None:
        return "unknown"
    return "degraded" if error_rate >= 0.25 else "healthy"


async def provider_statuses(
    providers: list[Provider], repo: GatewayRepository, http: ServiceClient, *, probe_now: bool
) -> list[ProviderStatus]:
    """Health, latency and error rate of every provider (probed live when asked)."""
    probes: list[ProbeResult | None] = [None] * len(providers)
    if probe_now:
        probes = list(await asyncio.gather(*(probe(p) for p in providers)))
    statuses = []
    for provider, probed in zip(providers, probes, strict=True):
        recent, totals = await repo.provider_stats(provider.name)
        latencies = [float(r["ms"]) for r in recent if r.get("ok")]
        errors = sum(1 for r in recent if not r.get("ok"))
        error_rate = round(errors / len(recent), 3) if recent else None
        circuit = None
        base_url = getattr(provider, "base_url", None)
        if base_url is not None:
            circuit = str(http.breaker_for(base_url).state)
        statuses.append(
            ProviderStatus(
                name=provider.name,
                kind=provider.kind,
                local=provider.local,
                base_url=base_url,
                models=provider.models,
                health=_health(provider, probed, circuit, recent, error_rate),
                circuit=circuit,
                recent_calls=len(recent),
                recent_errors=errors,
                error_rate=error_rate,
                latency=LatencyStats(
                    avg_ms=round(sum(latencies) / len(latencies), 2) if latencies else None,
                    p50_ms=_percentile(latencies, 0.5),
                    p95_ms=_percentile(latencies, 0.95),
                ),
                total_calls=int(totals.get("calls", 0)),
                total_errors=int(totals.get("errors", 0)),
                last_error=totals.get("last_error"),
                last_error_at=totals.get("last_error_at"),
                probe=probed,
            )
        )
    return statuses


def _totals(row: dict[str, float]) -> UsageTotals:
    return UsageTotals(
        **{k: int(row.get(k, 0)) for k in METRICS_INT}, cost_usd=round(row.get("cost_usd", 0.0), 6)
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def usage_report(
    repo: GatewayRepository,
    *,
    caller: str | None,
    since: float | None,
    provider: str | None,
    only: str | None = None,
) -> UsageReport:
    """Usage totals from `since`, by caller and provider; with `only`, that caller's alone."""
    until = time.time()
    table, complete = await repo.usage_table(since, until)
    overall: dict[str, float] = defaultdict(float)
    by_provider: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_caller: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    caller_totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (row_caller, row_provider), row in sorted(table.items()):
        if caller is not None and row_caller != caller:
            continue
        if only is not None and row_caller != only:
            continue
        if provider is not None and row_provider != provider:
            continue
        by_caller[row_caller][row_provider] = row
        for metric, value in row.items():
            overall[metric] += value
            by_provider[row_provider][metric] += value
            caller_totals[row_caller][metric] += value
    return UsageReport(
        since=_iso(since) if since is not None else None,
        until=_iso(until),
        caller=caller,
        provider=provider,
        complete=complete,
        totals=_totals(overall),
        by_caller={
            name: CallerUsage(
                totals=_totals(caller_totals[name]),
                by_provider={p: _totals(r) for p, r in rows.items()},
            )
            for name, rows in by_caller.items()
        },
        by_provider={p: _totals(r) for p, r in by_provider.items()},
    )

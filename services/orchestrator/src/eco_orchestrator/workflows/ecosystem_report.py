"""`ecosystem_report`: services, instances, health and recent error counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from langgraph.graph.state import CompiledStateGraph

from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows._base import (
    RunContext,
    RunState,
    input_ref,
    linear_graph,
    sha256_json,
)


async def inventory(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Every registered service and its instances with their health, from discovery."""
    listing = await ctx.call("discovery", "GET", "/services")
    services = []
    for summary in listing.get("services", []):
        detail = await ctx.call("discovery", "GET", "/services/{name}", name=summary["name"])
        services.append(
            {
                **summary,
                "instance_list": [
                    {
                        "instance_id": i.get("instance_id"),
                        "base_url": i.get("base_url"),
                        "status": i.get("status"),
                        "version": i.get("version"),
                        "last_heartbeat": i.get("last_heartbeat"),
                    }
                    for i in detail.get("instances", [])
                ],
            }
        )
    return {
        "context": {
            "services": services,
            "self_preservation": bool(listing.get("self_preservation")),
        },
        "inputs": input_ref("eco://discovery/services", sha256_json(listing)),
    }


async def error_counts(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Warning and error counts by service over the window, from the log collector."""
    window_s = int(state["params"].get("window_s") or 3600)
    since = (datetime.now(UTC) - timedelta(seconds=window_s)).isoformat()
    stats = await ctx.call("log-collector", "GET", "/stats", since=since)
    return {
        "context": {**state["context"], "stats": stats, "window_s": window_s},
        "inputs": input_ref(f"eco://log-collector/stats?since={since}", sha256_json(stats)),
    }


def _levels(by_level: dict[str, int]) -> tuple[int, int]:
    errors = sum(v for k, v in by_level.items() if k.lower() in ("error", "critical", "fatal"))
    warnings = sum(v for k, v in by_level.items() if k.lower() in ("warning", "warn"))
    return errors, warnings


async def compose(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The report: one table row per service, instance details below."""
    context = state["context"]
    by_service = (context.get("stats") or {}).get("logs_by_service") or {}
    window_min = context["window_s"] // 60
    rows = []
    lines = [
        "# Ecosystem health report",
        "",
        f"Generated {datetime.now(UTC).isoformat(timespec='seconds')}; error counts over the "
        f"last {window_min} minutes.",
        "",
    ]
    if context.get("self_preservation"):
        lines += ["**Discovery is in self-preservation mode** (mass lease expiry).", ""]
    lines += [
        "| service | status | instances | passing | errors | warnings |",
        "|---|---|---|---|---|---|",
    ]
    for s in context["services"]:
        errors, warnings = _levels(by_service.get(s["name"], {}))
        rows.append(
            {
                "service": s["name"],
                "status": s.get("status"),
                "instances": s.get("instances"),
                "passing": s.get("passing"),
                "errors": errors,
                "warnings": warnings,
            }
        )
        lines.append(
            f"| {s['name']} | {s.get('status')} | {s.get('instances')} | "
            f"{s.get('passing')} | {errors} | {warnings} |"
        )
    unhealthy = [r["service"] for r in rows if r["status"] != "passing"]
    lines += ["", "## Summary", ""]
    lines.append(
        f"{len(rows)} services registered; "
        + (f"not fully healthy: {', '.join(unhealthy)}." if unhealthy else "all passing.")
    )
    lines += ["", "## Instances", ""]
    for s in context["services"]:
        lines.append(f"### {s['name']}")
        lines.append("")
        for i in s["instance_list"]:
            lines.append(
                f"- `{i['instance_id']}` at {i['base_url']}: {i['status']} "
                f"(version {i['version']}, last heartbeat {i['last_heartbeat']})"
            )
        lines.append("")
    return {
        "title": "Ecosystem health report",
        "markdown": "\n".join(lines),
        "data": {"rows": rows, "window_s": context["window_s"]},
        "quality": {"completeness": 1.0 if context.get("stats") else 0.5},
    }


def build(settings: OrchestratorSettings) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The ecosystem_report graph."""
    return linear_graph(
        "ecosystem_report",
        settings,
        [("inventory", inventory), ("error_counts", error_counts)],
        [("compose", compose)],
    )

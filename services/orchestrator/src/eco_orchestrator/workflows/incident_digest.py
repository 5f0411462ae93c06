"""`incident_digest`: errors and warnings by service, grouped by message, with traces."""

from __future__ import annotations

import re
from collections import defaultdict
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
from eco_orchestrator.workflows._prompts import llm_task, pinned

MAX_RECORDS = 2000
_PAGE = 500


def _since(state: RunState) -> str:
    window_s = int(state["params"].get("window_s") or 3600)
    return (datetime.now(UTC) - timedelta(seconds=window_s)).isoformat()


async def collect(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Warnings and errors of the window (newest first, bounded)."""
    since = _since(state)
    records: list[dict[str, Any]] = []
    cursor = None
    while len(records) < MAX_RECORDS:
        args: dict[str, Any] = {"level": "warning", "since": since, "limit": _PAGE}
        if cursor:
            args["cursor"] = cursor
        page = await ctx.call("log-collector", "GET", "/logs", **args)
        records.extend(page.get("items", []))
        cursor = page.get("next_cursor")
        if not cursor:
            break
    services = set(state["params"].get("services") or [])
    if services:
        records = [r for r in records if r.get("service") in services]
    slim = [
        {k: r.get(k) for k in ("time", "service", "level", "message", "trace_id")} for r in records
    ]
    return {
        "context": {"records": slim, "since": since},
        "inputs": input_ref(
            f"eco://log-collector/logs?level=warning&since={since}", sha256_json(slim)
        ),
    }


async def slow_traces(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The slowest traces of the window."""
    since = state["context"]["since"]
    found = await ctx.call("log-collector", "GET", "/traces", since=since, limit=100)
    items = sorted(found.get("items", []), key=lambda t: -float(t.get("duration_ms") or 0))[:5]
    return {"context": {**state["context"], "slowest": items}}


def _normalise(message: str) -> str:
    # numbers and ids vary between occurrences of the same problem
    return re.sub(r"\b[0-9a-f]{8,}\b|\d+", "#", message)[:300]


async def summarize(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """Group by service and message; a short extractive summary through the gateway."""
    groups: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in state["context"]["records"]:
        key = _normalise(str(r.get("message") or ""))
        group = groups[r.get("service") or "unknown"].setdefault(
            key,
            {
                "message": r.get("message"),
                "level": r.get("level"),
                "count": 0,
                "trace_ids": [],
                "last_seen": r.get("time"),
            },
        )
        group["count"] += 1
        if r.get("trace_id") and r["trace_id"] not in group["trace_ids"]:
            group["trace_ids"] = [*group["trace_ids"], r["trace_id"]][:5]
    digest = {
        service: sorted(g.values(), key=lambda x: -x["count"]) for service, g in groups.items()
    }
    update: dict[str, Any] = {}
    summary = ""
    if digest:
        text = " ".join(
            f"{service} logged {g['level']} {g['message']!r} {g['count']} times."
            for service, items in digest.items()
            for g in items[:5]
        )
        answer, update = await llm_task(ctx, await pinned(state, ctx, "summarize_incidents"), text)
        summary = str(answer.get("summary") or "")
    return update | {"context": {**state["context"], "digest": digest, "summary": summary}}


async def compose(state: RunState, ctx: RunContext) -> dict[str, Any]:
    """The digest document."""
    c = state["context"]
    window_min = int(state["params"].get("window_s") or 3600) // 60
    lines = [
        "# Incident digest",
        "",
        f"Warnings and errors since {c['since']} (last {window_min} minutes).",
        "",
    ]
    rows = []
    if not c["digest"]:
        lines += ["Nothing went wrong: no warnings or errors were logged in the window.", ""]
    else:
        lines += ["## Summary", "", c["summary"], ""]
        for service, items in sorted(c["digest"].items()):
            total = sum(i["count"] for i in items)
            lines += [
                f"## {service} ({total})",
                "",
                "| level | count | message | traces |",
                "|---|---|---|---|",
            ]
            for i in items:
                message = str(i["message"]).replace("|", "\\|").replace("\n", " ")[:200]
                traces = ", ".join(f"`{t}`" for t in i["trace_ids"])
                lines.append(f"| {i['level']} | {i['count']} | {message} | {traces} |")
                rows.append(
                    {
                        "service": service,
                        "level": i["level"],
                        "count": i["count"],
                        "message": i["message"],
                        "trace_ids": i["trace_ids"],
                    }
                )
            lines.append("")
    lines += ["## Slowest traces", ""]
    for t in c.get("slowest") or []:
        lines.append(
            f"- `{t['trace_id']}` {t.get('root_service')} {t.get('root_name')}: "
            f"{float(t.get('duration_ms') or 0):.1f} ms, {t.get('error_count', 0)} errors"
        )
    if not c.get("slowest"):
        lines.append("No traces in the window.")
    return {
        "title": "Incident digest",
        "markdown": "\n".join(lines) + "\n",
        "data": {"rows": rows, "slowest_traces": c.get("slowest") or []},
    }


def build(settings: OrchestratorSettings) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The incident_digest graph."""
    return linear_graph(
        "incident_digest",
        settings,
        [("collect", collect), ("slow_traces", slow_traces), ("summarize", summarize)],
        [("compose", compose)],
    )

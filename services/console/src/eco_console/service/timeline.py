"""A run's node timeline, from its events (`node.started`, `node.finished`, `node.failed`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from eco_shared.adapters.orchestrator import RunEvent

TERMINAL = frozenset({"completed", "failed", "cancelled", "needs_clarification"})


@dataclass
class NodeStep:
    """One node of the run, as far as its events tell."""

    node: str
    event_id: str
    started: str | None = None
    status: str = "running"
    duration_ms: float | None = None
    error: str | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)


def steps(events: Iterable[RunEvent]) -> list[NodeStep]:
    """The nodes in the order they started; a node started again (a retry) is a new step."""
    out: list[NodeStep] = []
    current: dict[str, NodeStep] = {}
    for event in events:
        node = event.data.get("node")
        if not isinstance(node, str):
            continue
        if event.event == "node.started":
            step = NodeStep(node=node, event_id=event.id, started=event.data.get("time"))
            current[node] = step
            out.append(step)
            continue
        step = current.get(node) or NodeStep(node=node, event_id=event.id)
        if step not in out:
            out.append(step)
            current[node] = step
        if event.event == "node.finished":
            step.status = "done"
            duration = event.data.get("duration_ms")
            step.duration_ms = float(duration) if isinstance(duration, int | float) else None
        elif event.event == "node.failed":
            step.status = "failed"
            step.error = str(event.data.get("error", ""))
        else:
            step.calls.append(event.data)
    return out

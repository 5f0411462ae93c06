"""How a run's execution ends: the run record with its bus event (staged in the outbox, in
the same transaction), then its event log."""

from __future__ import annotations

import time
from typing import Any

import structlog
from langgraph.types import StateSnapshot

from eco_orchestrator.events import RunEventLog
from eco_orchestrator.models import utcnow
from eco_orchestrator.repository import RunRepository
from eco_orchestrator.workflows import RunContext

log = structlog.get_logger(__name__)


def timings(ctx: RunContext, t0: float) -> dict[str, float]:
    """Where an execution's time went: nodes, service calls, and the framework around them."""
    total = (time.perf_counter() - t0) * 1000
    nodes, calls = ctx.timings["nodes_ms"], ctx.timings["calls_ms"]
    return {
        "total_ms": round(total, 3),
        "nodes_ms": round(nodes, 3),
        "calls_ms": round(calls, 3),
        "node_compute_ms": round(nodes - calls, 3),
        "framework_ms": round(max(0.0, total - nodes), 3),
    }


def outcome_fields(values: dict[str, Any]) -> dict[str, Any]:
    """What `run.completed` tells the prompt store about a run, for experiment outcomes: the
    prompts it used (with their arms), its review score, revisions, latency and tokens."""
    llm = (values.get("llm") or {}).values()
    steps = (values.get("steps") or {}).values()
    return {
        "prompts_used": sorted((values.get("prompts") or {}).values(), key=lambda p: p["name"]),
        "review_score": (values.get("quality") or {}).get("score"),
        "revisions": int(values.get("revisions") or 0),
        # the run's own work (every node, every execution), not its time queued or in review
        "latency_ms": round(sum(float(s.get("duration_ms") or 0) for s in steps), 3),
        "tokens": sum(int(c.get("tokens_in") or 0) + int(c.get("tokens_out") or 0) for c in llm),
    }


class RunOutcomes:
    """Record that a run was cancelled, failed, paused for review or finished."""

    def __init__(self, repo: RunRepository, events: RunEventLog) -> None:
        self.repo = repo
        self.events = events

    async def cancelled(
        self, run_id: str, reason: str = "cancelled", *, owner: str | None = None
    ) -> None:
        """The run ends cancelled (by a user, or rejected by the reviewer)."""
        await self.repo.update(
            run_id,
            status="cancelled",
            error=reason,
            finished_at=utcnow(),
            current_node=None,
            announce=("run.cancelled", {"run_id": run_id, "owner": owner, "reason": reason}),
        )
        await self.events.append(run_id, "run.cancelled", owner=owner, reason=reason)
        log.info("run_cancelled", run_id=run_id)

    async def failed(
        self, run_id: str, error: str, timings: dict[str, float], *, owner: str | None = None
    ) -> None:
        """The run ends failed with `error`."""
        await self.repo.update(
            run_id,
            status="failed",
            error=error[:4000],
            finished_at=utcnow(),
            timings=timings,
            announce=("run.failed", {"run_id": run_id, "owner": owner, "error": error[:1000]}),
        )
        await self.events.append(run_id, "run.failed", owner=owner, error=error[:4000])
        log.warning("run_failed", run_id=run_id, error=error)

    async def finished(
        self,
        run_id: str,
        snapshot: StateSnapshot,
        timings: dict[str, float],
        *,
        owner: str | None = None,
    ) -> None:
        """The graph stopped without an error: paused, needing clarification, or done."""
        values: dict[str, Any] = dict(snapshot.values or {})
        workflow = values.get("workflow")
        if snapshot.interrupts:
            await self.repo.update(
                run_id,
                status="waiting_review",
                current_node="review_gate",
                workflow=workflow,
                timings=timings,
                result={
                    "review": {
                        "title": values.get("title"),
                        "quality": values.get("quality"),
                        "markdown": (values.get("markdown") or "")[:20_000],
                    }
                },
                announce=(
                    "run.waiting_review",
                    {"run_id": run_id, "owner": owner, "status": "waiting_review"},
                ),
            )
            await self.events.append(run_id, "run.waiting_review", title=values.get("title"))
            return
        if workflow == "needs_clarification":
            clarification = values.get("clarification") or {}
            await self.repo.update(
                run_id,
                status="needs_clarification",
                workflow=workflow,
                current_node=None,
                result={"clarification": clarification, "intent": values.get("intent")},
                finished_at=utcnow(),
                timings=timings,
                announce=(
                    "run.completed",
                    {
                        "run_id": run_id,
                        "owner": owner,
                        "status": "needs_clarification",
                        **outcome_fields(values),
                    },
                ),
            )
            await self.events.append(
                run_id, "run.needs_clarification", **{**clarification, "owner": owner}
            )
            return
        decision = values.get("review_decision") or {}
        if not decision.get("approve", True) or "document" not in values:
            await self.cancelled(run_id, "rejected by the reviewer", owner=owner)
            return
        document = values["document"]
        result = {
            "document_id": document.get("id"),
            "version": document.get("version"),
            "title": values.get("title"),
            "format": values.get("format"),
            "sha256": document.get("sha256"),
            "download_url": document.get("download_url"),
            "quality": values.get("quality"),
            "intent": values.get("intent"),
            "params": values.get("params"),
        }
        await self.repo.update(
            run_id,
            status="completed",
            workflow=workflow,
            current_node=None,
            result=result,
            document_id=document.get("id"),
            finished_at=utcnow(),
            timings=timings,
            announce=(
                "run.completed",
                {
                    "run_id": run_id,
                    "owner": owner,
                    "workflow": workflow,
                    "document_id": document.get("id"),
                    **outcome_fields(values),
                },
            ),
        )
        await self.events.append(
            run_id,
            "run.completed",
            owner=owner,
            document_id=document.get("id"),
            workflow=workflow,
            timings=timings,
        )
        log.info(
            "run_completed",
            run_id=run_id,
            workflow=workflow,
            document_id=document.get("id"),
            **timings,
        )

"""The orchestrator's logic behind the routes: accept, inspect, cancel, resume and wait."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import structlog
from opentelemetry import trace

from eco_orchestrator.events import RunEventLog
from eco_orchestrator.models import TERMINAL, QueryCreate, ResumeRequest, Run, utcnow
from eco_orchestrator.repository import RunRepository
from eco_orchestrator.runner import RUNS_STREAM, RunWorker
from eco_orchestrator.settings import OrchestratorSettings
from eco_shared.adapters._base import AdapterError
from eco_shared.bus import EventBus
from eco_shared.directory import ServiceNotFoundError
from eco_shared.http import ServiceCallError
from eco_shared.problems import ProblemError
from eco_shared.tools import ToolNotFoundError, ToolRegistry

log = structlog.get_logger(__name__)


class Orchestrator:
    """Runs as the API sees them."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        bus: EventBus,
        repo: RunRepository,
        events: RunEventLog,
        worker: RunWorker,
        tools: ToolRegistry,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.repo = repo
        self.events = events
        self.worker = worker
        self.tools = tools

    async def submit(self, body: QueryCreate) -> Run:
        """Record the run and queue it durably (XADD) before answering."""
        if len(body.query) > self.settings.max_query_chars:
            raise ProblemError(
                413 if len(body.query) > 10 * self.settings.max_query_chars else 422,
                f"The query has {len(body.query)} characters; the limit is "
                f"{self.settings.max_query_chars}.",
                title="Query too long",
            )
        span = trace.get_current_span().get_span_context()
        run = Run(
            id=uuid.uuid4().hex,
            query=body.query,
            format=body.format,
            format_explicit="format" in body.model_fields_set,
            user_id=body.user_id,
            review=body.review,
            trace_id=f"{span.trace_id:032x}" if span.is_valid else None,
        )
        await self.repo.add(run)
        await self.events.append(run.id, "run.queued", query=run.query, format=run.format)
        try:
            await self.bus.publish("run.queued", {"run_id": run.id}, stream=RUNS_STREAM)
        except Exception as exc:
            await self.repo.update(
                run.id, status="failed", error="could not queue the run", finished_at=utcnow()
            )
            raise ProblemError(
                503, "The run queue is unavailable; try again.", title="Queue unavailable"
            ) from exc
        log.info("run_queued", run_id=run.id, trace_id=run.trace_id)
        return run

    async def get(self, run_id: str) -> Run:
        """A run, or 404."""
        run = await self.repo.get(run_id) if len(run_id) <= 64 else None
        if run is None:
            raise ProblemError(404, f"No run with id {run_id!r}.", title="Run not found")
        return run

    async def cancel(self, run_id: str) -> Run:
        """Stop a run: at once when queued or waiting, else its task is cancelled."""
        run = await self.get(run_id)
        if run.status in TERMINAL:
            raise ProblemError(409, f"The run is already {run.status}.", title="Run finished")
        await self.worker.request_cancel(run_id)
        if await self.repo.update(
            run_id,
            only_if={"queued", "waiting_review"},
            status="cancelled",
            error="cancelled",
            finished_at=utcnow(),
        ):
            await self.events.append(run_id, "run.cancelled", reason="cancelled")
            await self.bus.publish("run.cancelled", {"run_id": run_id, "reason": "cancelled"})
        return await self.get(run_id)

    async def resume(self, run_id: str, body: ResumeRequest) -> Run:
        """Queue the reviewer's decision for a paused run."""
        run = await self.get(run_id)
        if run.status != "waiting_review":
            raise ProblemError(
                409,
                f"The run is {run.status}, not waiting for review.",
                title="Run not waiting for review",
            )
        if not await self.repo.update(run_id, only_if={"waiting_review"}, status="queued"):
            raise ProblemError(
                409,
                "The run was resumed or cancelled meanwhile.",
                title="Run not waiting for review",
            )
        decision: dict[str, Any] = body.model_dump(exclude_none=True)
        await self.events.append(run_id, "run.resume_requested", approve=body.approve)
        await self.bus.publish(
            "run.resume",
            {"run_id": run_id, "action": "resume", "decision": decision},
            stream=RUNS_STREAM,
        )
        return await self.get(run_id)

    async def wait(self, run_id: str, timeout_s: float) -> Run:
        """Wait until the run is finished or paused, following its event log."""
        deadline = time.monotonic() + timeout_s
        last = "0-0"
        while True:
            run = await self.get(run_id)
            if run.status in TERMINAL or run.status == "waiting_review":
                return run
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProblemError(
                    504,
                    f"Run {run_id} did not finish within {timeout_s:.0f} s; "
                    f"follow it at /runs/{run_id}.",
                    title="Run still running",
                    run_id=run_id,
                )
            events = await self.events.read(run_id, last, block_ms=int(min(remaining, 1.0) * 1000))
            if events:
                last = events[-1]["id"]
            else:
                await asyncio.sleep(0)

    async def document_provenance(self, document_id: str, fmt: str | None) -> Any:
        """The doc store's provenance record of a document."""
        args: dict[str, Any] = {"id": document_id}
        try:
            tool = await self.tools.find("doc-store", "GET", "/documents/{id}/provenance")
            if fmt and "format" in tool.capability.query_params:
                args["format"] = fmt
            return await self.tools.call_route(
                "doc-store", "GET", "/documents/{id}/provenance", **args
            )
        except (ToolNotFoundError, ServiceCallError, ServiceNotFoundError) as exc:
            raise ProblemError(503, str(exc), title="Doc store unavailable") from exc
        except AdapterError as exc:
            if exc.status == 404:
                raise ProblemError(
                    404, f"No document with id {document_id!r}.", title="Document not found"
                ) from exc
            raise ProblemError(
                502, f"doc-store answered {exc.status}.", title="Doc store error"
            ) from exc

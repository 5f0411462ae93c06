"""The orchestrator's logic behind the routes: accept, list, inspect, follow, cancel,
resume and wait."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import structlog
from opentelemetry import trace

from eco_orchestrator import access
from eco_orchestrator.events import SETTLING_EVENTS, RunEvent
from eco_orchestrator.models import TERMINAL, Run, utcnow
from eco_orchestrator.runner import RUNS_STREAM, RunWorker
from eco_orchestrator.watch import RunWatch
from eco_shared.adapters._base import AdapterError
from eco_shared.adapters.orchestrator import FeedbackRequest, QueryCreate, ResumeRequest
from eco_shared.auth import Principal, ServiceAuth, TokenError, acting_for
from eco_shared.directory import ServiceNotFoundError
from eco_shared.http import ServiceCallError
from eco_shared.problems import (
    Conflict,
    NotFound,
    ProblemError,
    TooLarge,
    Unavailable,
    ValidationProblem,
)
from eco_shared.tools import ToolNotFoundError

log = structlog.get_logger(__name__)


def _settled(run: Run) -> bool:
    return run.status in TERMINAL or run.status == "waiting_review"


class Orchestrator:
    """Runs as the API sees them (each caller its own); the worker executes them."""

    def __init__(self, worker: RunWorker, auth: ServiceAuth | None = None) -> None:
        self.worker = worker
        self.auth = auth
        self.settings = worker.settings
        self.bus = worker.bus
        self.repo = worker.repo
        self.events = worker.events
        self.tools = worker.tools
        self.watch = RunWatch(worker.bus, block_ms=self.settings.watch_block_ms)

    async def submit(self, body: QueryCreate, caller: Principal, user_token: str | None) -> Run:
        """Record the run (owned by `caller`, with its grant) and queue it durably (XADD)
        before answering."""
        limit = self.settings.max_query_chars
        if len(body.query) > limit:
            detail = f"The query has {len(body.query)} characters; the limit is {limit}."
            if len(body.query) > 10 * limit:
                raise TooLarge(detail)
            msg, title = f"at most {limit} characters", "Query too long"
            raise ValidationProblem.field("body", "query", msg, detail=detail, title=title)
        span = trace.get_current_span().get_span_context()
        run_id = uuid.uuid4().hex
        grant, grant_expires_at = await access.run_grant(self.auth, user_token, run_id)
        run = Run(
            id=run_id,
            query=body.query.strip(),
            format=body.format,
            format_explicit="format" in body.model_fields_set,
            user_id=body.user_id,
            review=body.review,
            trace_id=f"{span.trace_id:032x}" if span.is_valid else None,
            owner=caller.owner,
            scopes=sorted(caller.scopes),
            run_grant=grant,
            grant_expires_at=grant_expires_at,
        )
        created = {"run_id": run.id, "owner": run.owner, "status": run.status}
        await self.repo.add(run, announce=("run.created", created))
        await self.events.append(
            run.id, "run.queued", owner=run.owner, query=run.query, format=run.format
        )
        try:
            await self.bus.publish("run.queued", {"run_id": run.id}, stream=RUNS_STREAM)
        except Exception as exc:
            await self.repo.update(
                run.id, status="failed", error="could not queue the run", finished_at=utcnow()
            )
            raise Unavailable(
                "The run queue is unavailable; try again.", title="Queue unavailable"
            ) from exc
        log.info("run_queued", run_id=run.id, owner=run.owner, trace_id=run.trace_id)
        return run

    async def list_runs(
        self,
        caller: Principal,
        *,
        status: str | None,
        user_id: str | None,
        owner: str | None,
        page: int,
        page_size: int,
        after: tuple[int, str] | None = None,
    ) -> tuple[list[Run], int, str | None]:
        """The caller's runs (everyone's for `runs:read:all`) newest first, with the total
        and the next page's cursor (keyset after `after` when given, else offset `page`)."""
        return await self.repo.list(
            status=status,
            user_id=user_id,
            owner=owner,
            visible_to=None if access.sees_all(caller) else caller.owner,
            page=page,
            page_size=page_size,
            after=after,
        )

    async def get(self, run_id: str, caller: Principal | None = None) -> Run:
        """A run `caller` may see, or 404 (another principal's run does not exist for it)."""
        run = await self.repo.get(run_id) if len(run_id) <= 64 else None
        if run is None or (caller is not None and not access.visible(run, caller)):
            raise NotFound("Run", run_id, detail=f"No run with id {run_id!r}.")
        return run

    def event_feed(self, run: Run, after: str) -> AsyncIterator[RunEvent | None]:
        """A run's events after `after`: what is left of a finished run, else followed live
        until the final one (None on idle, for keep-alives)."""
        if run.status in TERMINAL:
            return self._replay(run.id, after)
        return self.events.follow(run.id, after)

    async def _replay(self, run_id: str, after: str) -> AsyncIterator[RunEvent | None]:
        for event in await self.events.read(run_id, after, count=10_000):
            yield event

    async def cancel(self, run_id: str, caller: Principal) -> Run:
        """Stop a run: at once when queued or waiting, else its task is cancelled."""
        run = await self.get(run_id, caller)
        if run.status in TERMINAL:
            raise Conflict(f"The run is already {run.status}.", title="Run finished")
        await self.worker.request_cancel(run_id)
        announced = {"run_id": run_id, "owner": run.owner, "reason": "cancelled"}
        if await self.repo.update(
            run_id,
            only_if={"queued", "waiting_review"},
            status="cancelled",
            error="cancelled",
            finished_at=utcnow(),
            announce=("run.cancelled", announced),
        ):
            await self.events.append(run_id, "run.cancelled", owner=run.owner, reason="cancelled")
        record = {"run_id": run_id, "owner": run.owner, "status": run.status}
        await access.audit(self.bus, "run.cancelled", record | access.actor(caller))
        return await self.get(run_id)

    async def resume(self, run_id: str, body: ResumeRequest, caller: Principal) -> Run:
        """Queue the reviewer's decision for a paused run."""
        run = await self.get(run_id, caller)
        title = "Run not waiting for review"
        if run.status != "waiting_review":
            raise Conflict(f"The run is {run.status}, not waiting for review.", title=title)
        resumed = {"run_id": run_id, "owner": run.owner, "status": "queued"}
        if not await self.repo.update(
            run_id,
            only_if={"waiting_review"},
            status="queued",
            announce=("run.resumed", resumed | {"approve": body.approve}),
        ):
            raise Conflict("The run was resumed or cancelled meanwhile.", title=title)
        decision: dict[str, Any] = body.model_dump(exclude_none=True)
        await self.events.append(run_id, "run.resume_requested", approve=body.approve)
        await self.bus.publish(
            "run.resume",
            {"run_id": run_id, "action": "resume", "decision": decision},
            stream=RUNS_STREAM,
        )
        record = {"run_id": run_id, "owner": run.owner, "approve": body.approve}
        await access.audit(self.bus, "run.reviewed", record | access.actor(caller))
        return await self.get(run_id)

    async def feedback(self, run_id: str, body: FeedbackRequest, caller: Principal) -> Run:
        """Pass a user's verdict on their finished run on as `run.feedback` (through the
        outbox, so an accepted verdict is published even if Redis is away now)."""
        run = await self.get(run_id, caller)
        if run.status not in TERMINAL:
            raise Conflict(
                f"The run is {run.status}; rate it once it has finished.", title="Run not finished"
            )
        data = {"run_id": run_id, **body.model_dump(exclude_none=True), "by": caller.subject}
        await self.repo.stage_event("run.feedback", data)
        return run

    async def wait(self, run_id: str, timeout_s: float) -> Run:
        """Wait until the run is finished or paused, woken by its event log."""
        deadline = time.monotonic() + timeout_s
        # pinned before the status is read, so no event between the two is missed
        after = await self.events.end(run_id)
        run = await self.get(run_id)
        if _settled(run):
            return run
        async with contextlib.aclosing(self.events.batches(run_id, after, idle_ms=1000)) as feed:
            async for batch in feed:
                # the run row is written before the event that announces it settled, so it
                # is read only then (and, as a safety net, when the log has been idle)
                if not batch or any(e["type"] in SETTLING_EVENTS for e in batch):
                    run = await self.get(run_id)
                    if _settled(run):
                        return run
                if time.monotonic() >= deadline:
                    break
        raise ProblemError(
            504,
            f"Run {run_id} did not finish within {timeout_s:.0f} s; follow it at /runs/{run_id}.",
            title="Run still running",
            run_id=run_id,
        )

    async def document_provenance(
        self, document_id: str, fmt: str | None, caller: Principal
    ) -> dict[str, Any]:
        """The doc store's provenance record of a document one of the caller's runs made,
        read acting for that run's owner (any other document: 404)."""
        run = await self.repo.made(
            document_id, visible_to=None if access.sees_all(caller) else caller.owner
        )
        if run is None:
            raise NotFound("Document", document_id, detail=f"No document with id {document_id!r}.")
        return await self.provenance_of(run, document_id, fmt)

    async def provenance_of(self, run: Run, document_id: str, fmt: str | None) -> dict[str, Any]:
        """The provenance record of the document `run` stored, read with the run's grant."""
        route = ("doc-store", "GET", "/documents/{id}/provenance")
        args: dict[str, Any] = {"id": document_id}
        try:
            with acting_for(run.run_grant):
                tool = await self.tools.find(*route)
                if fmt and "format" in tool.capability.query_params:
                    args["format"] = fmt
                record = await self.tools.call_route(*route, **args)
        except TokenError as exc:
            if exc.status is None or exc.status >= 500:
                raise Unavailable(str(exc), title="Issuer unavailable") from exc
            raise Conflict(
                "The run that made this document can no longer act for its owner (its grant "
                "expired or its key was revoked); read the provenance from the doc store.",
                title="Run grant expired",
            ) from exc
        except (ToolNotFoundError, ServiceCallError, ServiceNotFoundError) as exc:
            raise Unavailable(str(exc), title="Doc store unavailable") from exc
        except AdapterError as exc:
            if exc.status == 404:
                raise NotFound(
                    "Document", document_id, detail=f"No document with id {document_id!r}."
                ) from exc
            raise ProblemError(
                502, f"doc-store answered {exc.status}.", title="Doc store error"
            ) from exc
        if not isinstance(record, dict):
            raise ProblemError(
                502, "doc-store answered with no provenance record.", title="Doc store error"
            )
        return record

"""Accounting: what each call cost, the usage log (by principal: subject, acting chain, API
key), the tokens a key's budget has spent, provider outcomes and the cache writes, and the
background tasks that keep counting after a client hangs up. All but the budget go through
the `Ledger`, off the response path."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import structlog

from eco_llm_gateway.ledger import Ledger, Outcome
from eco_llm_gateway.models import Caller, Candidate, Plan
from eco_llm_gateway.protocol import TaskSpec
from eco_llm_gateway.providers import ProviderError, ProviderUsage
from eco_llm_gateway.repository import BudgetSpend, GatewayRepository
from eco_llm_gateway.settings import BudgetPeriod
from eco_shared.models.llm_gateway import Attempt, ChatCompletionRequest, Finding, UsageRecord

log = structlog.get_logger(__name__)


def budget_window(period: BudgetPeriod, now: float) -> tuple[int, int]:
    """The budget window holding `now` (UTC day or calendar month): (start, end) epoch s."""
    moment = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return int(start.timestamp()), int(start.timestamp()) + 86400
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return int(start.timestamp()), int(start.replace(year=year, month=month).timestamp())


def cost_of(candidate: Candidate, usage: ProviderUsage) -> float:
    """The estimated USD cost of a call at the provider's configured prices."""
    config = candidate.provider.config
    return round(
        usage.prompt_tokens * config.cost_per_1k_input / 1000
        + usage.completion_tokens * config.cost_per_1k_output / 1000,
        8,
    )


def ok_attempt(candidate: Candidate, duration_ms: float) -> Attempt:
    """The attempt that answered."""
    return Attempt(
        provider=candidate.provider.name,
        model=candidate.model,
        outcome="ok",
        duration_ms=round(duration_ms, 2),
    )


class Accounting:
    """Records every call in the usage log and every provider outcome in its stats."""

    def __init__(self, repository: GatewayRepository, ledger: Ledger) -> None:
        self.repo = repository
        self.ledger = ledger
        self._background: set[asyncio.Task[Any]] = set()

    async def succeeded(self, candidate: Candidate, duration_ms: float) -> None:
        """Count a call the provider answered."""
        await self.ledger.outcome(Outcome(candidate.provider.name, True, duration_ms))

    async def failed(self, provider: str, duration_ms: float, error: str) -> None:
        """Count a call the provider did not answer usably."""
        await self.ledger.outcome(Outcome(provider, False, duration_ms, error))

    async def cached(self, digest: str) -> dict[str, Any] | None:
        """A cached answer (a cache write still pending in the ledger counts), or None."""
        pending = self.ledger.cached(digest)
        if pending is None:
            return await self.repo.cache_get(digest)
        await self.ledger.cache_hit()
        value = json.loads(pending)
        return value if isinstance(value, dict) else None

    async def attempt_failed(
        self, attempts: list[Attempt], candidate: Candidate, exc: ProviderError, started: float
    ) -> None:
        """Note a failed attempt in the route and in the provider's stats."""
        duration = (time.perf_counter() - started) * 1000
        attempts.append(
            Attempt(
                provider=candidate.provider.name,
                model=candidate.model,
                outcome=exc.kind,
                status=exc.status,
                detail=exc.detail,
                retry_after_s=exc.retry_after_s,
                duration_ms=round(duration, 2),
            )
        )
        log.warning(
            "provider_failed",
            provider=candidate.provider.name,
            model=candidate.model,
            kind=exc.kind,
            status=exc.status,
            detail=exc.detail,
        )
        await self.failed(candidate.provider.name, duration, exc.detail)

    async def remember(
        self,
        plan: Plan,
        candidate: Candidate,
        content: str,
        finish_reason: str,
        usage: ProviderUsage,
    ) -> None:
        """Cache an answer when the plan allows it."""
        if plan.cache_key is None:
            return
        await self.ledger.cache_put(
            plan.cache_key,
            {
                "provider": candidate.provider.name,
                "model": candidate.model,
                "content": content,
                "finish_reason": finish_reason,
                "usage": [usage.prompt_tokens, usage.completion_tokens],
            },
        )

    async def record_plan(
        self,
        plan: Plan,
        candidate: Candidate | None,
        status: int,
        outcome: str,
        stream: bool,
        usage: ProviderUsage | None,
        cost: float,
        attempts: list[Attempt],
        *,
        cache_hit: bool = False,
    ) -> None:
        """Record a planned call in the usage log."""
        reason = plan.reason + ("; cache hit" if cache_hit else "")
        await self.record(
            caller=plan.caller,
            requested=plan.requested,
            status=status,
            outcome=outcome,
            stream=stream,
            started=plan.started,
            task=plan.task,
            findings=plan.findings,
            reason=reason,
            attempts=attempts,
            candidate=candidate,
            usage=usage,
            cost=cost,
            cache_hit=cache_hit,
        )

    async def refused(
        self,
        request: ChatCompletionRequest,
        caller: Caller,
        task: TaskSpec | None,
        findings: list[Finding],
        *,
        status: int,
        outcome: str,
        reason: str,
    ) -> None:
        """Record a request refused before any provider was called."""
        await self.record(
            caller=caller,
            requested=request.model,
            status=status,
            outcome=outcome,
            stream=request.stream,
            started=time.perf_counter(),
            task=task,
            findings=findings,
            reason=reason,
            attempts=[],
        )

    def _spend(self, caller: Caller, record: UsageRecord) -> BudgetSpend | None:
        """What an answered call takes from the caller's budget (cache hits are free)."""
        tokens = record.tokens_in + record.tokens_out
        if caller.budget_tokens is None or record.status >= 400 or record.cache_hit or not tokens:
            return None
        start, end = budget_window(self.repo.settings.budget_period, time.time())
        return BudgetSpend(caller.budget_owner, start, end, tokens)

    async def record(
        self,
        *,
        caller: Caller,
        requested: str,
        status: int,
        outcome: str,
        stream: bool,
        started: float,
        task: TaskSpec | None,
        findings: list[Finding],
        reason: str,
        attempts: list[Attempt],
        candidate: Candidate | None = None,
        usage: ProviderUsage | None = None,
        cost: float = 0.0,
        cache_hit: bool = False,
    ) -> None:
        """Record one call (answered or refused) in the usage log and the `llm_call` line."""
        record = UsageRecord(
            caller=caller.subject,
            actors=list(caller.actors),
            key_id=caller.key_id,
            run_id=caller.run_id,
            requested_model=requested,
            provider=candidate.provider.name if candidate else "none",
            model=candidate.model if candidate else "",
            status=status,
            outcome=outcome,
            stream=stream,
            cache_hit=cache_hit,
            tokens_in=usage.prompt_tokens if usage else 0,
            tokens_out=usage.completion_tokens if usage else 0,
            cost_usd=cost,
            duration_ms=(time.perf_counter() - started) * 1000,
            task=task.task if task else None,
            sensitive=bool(findings),
            finding_types=sorted({f.type for f in findings}),
            route_reason=reason,
            attempts=attempts,
        )
        spend = self._spend(caller, record)
        if spend is not None:
            # On the response path: the caller's next request is judged by it.
            try:
                await self.repo.spend(spend)
            except Exception:
                # The answer was given; losing its accounting is logged, not an error.
                log.exception("budget_spend_failed", caller=caller.subject, tokens=spend.tokens)
        await self.ledger.usage(record)
        log.info(
            "llm_call",
            caller=caller.subject,
            actors=record.actors,
            key_id=caller.key_id,
            run_id=record.run_id,
            requested_model=requested,
            provider=record.provider,
            model=record.model,
            status=status,
            outcome=outcome,
            cache_hit=cache_hit,
            tokens_in=record.tokens_in,
            tokens_out=record.tokens_out,
            sensitive=record.sensitive,
            finding_types=record.finding_types,
            route_reason=reason,
        )

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run accounting in the background.

        It must survive a client that hangs up mid-stream (the generator is closed)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def flush(self) -> None:
        """Write what the ledger holds now (before reading usage or provider stats)."""
        await self.ledger.flush()

    async def drain(self) -> None:
        """Wait for accounting still in flight, then write all of it (shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.ledger.aclose()

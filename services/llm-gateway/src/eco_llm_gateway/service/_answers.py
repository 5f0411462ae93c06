"""Answering a planned request in one piece: the cache, then the candidates in order with
fallback, and the problem when none of them answered usably."""

from __future__ import annotations

import time
import uuid
from typing import Any

from eco_llm_gateway.models import Candidate, Plan
from eco_llm_gateway.protocol import check_answer
from eco_llm_gateway.providers import Provider, ProviderError, ProviderUsage
from eco_llm_gateway.repository import GatewayRepository
from eco_llm_gateway.service._accounting import Accounting, cost_of, ok_attempt
from eco_llm_gateway.service._params import missing
from eco_shared.models.llm_gateway import (
    AssistantMessage,
    Attempt,
    ChatCompletion,
    Choice,
    EcoInfo,
    Route,
    Sensitivity,
    Usage,
)
from eco_shared.problems import ProblemError


def eco_info(plan: Plan, candidate: Candidate, attempts: list[Attempt], cache_hit: bool) -> EcoInfo:
    """The gateway's account of a call: who answered, after which attempts, and why."""
    failed = [a for a in attempts if a.outcome != "ok"]
    reason = plan.reason
    if cache_hit:
        reason += f"; cache hit (answered earlier by {candidate.label})"
    elif failed:
        tried = ", ".join(f"{a.provider} ({a.outcome})" for a in failed)
        reason += f"; answered by {candidate.label} after fallback from {tried}"
    else:
        reason += f"; answered by {candidate.label}"
    return EcoInfo(
        provider=candidate.provider.name,
        model=candidate.model,
        local=candidate.provider.local,
        cache_hit=cache_hit,
        caller=plan.caller.subject,
        task=plan.task.task if plan.task else None,
        route=Route(requested=plan.requested, reason=reason, attempts=attempts),
        sensitive=Sensitivity(detected=bool(plan.findings), findings=plan.findings),
        dropped_params=missing(candidate, plan.params),
    )


def _completion(
    plan: Plan,
    candidate: Candidate,
    content: str,
    finish_reason: str,
    usage: ProviderUsage,
    attempts: list[Attempt],
    cache_hit: bool,
) -> ChatCompletion:
    return ChatCompletion(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=candidate.label,
        system_fingerprint=f"{candidate.provider.kind}:{candidate.label}",
        choices=[Choice(message=AssistantMessage(content=content), finish_reason=finish_reason)],
        usage=Usage(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.prompt_tokens + usage.completion_tokens,
        ),
        eco=eco_info(plan, candidate, attempts, cache_hit),
    )


async def all_failed(
    accounting: Accounting, plan: Plan, attempts: list[Attempt], *, stream: bool
) -> ProblemError:
    """Record a call no provider answered, and the 502/503 problem that says why."""
    names = ", ".join(f"{a.provider} ({a.outcome}: {a.detail})" for a in attempts)
    garbage = any(a.outcome in ("bad_response", "rejected") for a in attempts)
    status = 502 if garbage else 503
    if plan.findings:
        detail = (
            f"Every local provider failed: {names}. The prompt contains sensitive content, "
            "so no remote provider was tried."
        )
    elif len(attempts) == 1:
        detail = f"Provider {names} did not answer usably."
    else:
        detail = f"Every provider failed: {names}."
    await accounting.record_plan(plan, None, status, "failed", stream, None, 0.0, attempts)
    headers = None
    if status == 503:
        # Clients (the OpenAI SDKs among them) retry a 503 after Retry-After.
        waits = [a.retry_after_s for a in attempts if a.retry_after_s is not None]
        headers = {"Retry-After": str(max(1, min(60, round(max(waits, default=1)))))}
    # 502 and 503 here name the provider and every attempt; no shared factory carries those.
    return ProblemError(
        status,
        detail,
        title="Bad answer from provider" if garbage else "No provider available",
        type="urn:eco:problem:provider-failed",
        headers=headers,
        provider=attempts[-1].provider if attempts else None,
        attempts=[a.model_dump() for a in attempts],
    )


class ProviderCalls:
    """What answering and streaming both work with."""

    def __init__(
        self,
        providers: dict[str, Provider],
        repository: GatewayRepository,
        accounting: Accounting,
    ) -> None:
        self.providers = providers
        self.repo = repository
        self.accounting = accounting

    async def cached(self, plan: Plan) -> tuple[Candidate, dict[str, Any]] | None:
        """The cached answer to a plan, if any, with the candidate that gave it."""
        if plan.cache_key is None:
            return None
        cached = await self.accounting.cached(plan.cache_key)
        provider = self.providers.get(str(cached.get("provider"))) if cached else None
        if cached is None or provider is None:
            return None
        return Candidate(provider, str(cached["model"])), cached


class Answerer(ProviderCalls):
    """Non-streamed completions."""

    async def complete(self, plan: Plan) -> ChatCompletion:
        """Answer a planned request (cache, then the candidates in order)."""
        hit = await self.cached(plan)
        if hit is not None:
            return await self._from_cache(plan, *hit)
        attempts: list[Attempt] = []
        for candidate in plan.candidates:
            started = time.perf_counter()
            request = plan.request_for(candidate)
            try:
                answer = await candidate.provider.chat(request)
                content = answer.content
                if plan.task is not None or request.json_mode:
                    try:
                        _, content = check_answer(plan.task, answer.content)
                    except ValueError as exc:
                        raise candidate.provider.error(
                            "bad_response", f"not the requested JSON: {exc}"
                        ) from exc
            except ProviderError as exc:
                await self.accounting.attempt_failed(attempts, candidate, exc, started)
                if plan.fallback and exc.fallback:
                    continue
                break
            duration = (time.perf_counter() - started) * 1000
            await self.accounting.succeeded(candidate, duration)
            attempts.append(ok_attempt(candidate, duration))
            completion = _completion(
                plan, candidate, content, answer.finish_reason, answer.usage, attempts, False
            )
            await self.accounting.remember(
                plan, candidate, content, answer.finish_reason, answer.usage
            )
            cost = cost_of(candidate, answer.usage)
            await self.accounting.record_plan(
                plan, candidate, 200, "ok", False, answer.usage, cost, attempts
            )
            return completion
        raise await all_failed(self.accounting, plan, attempts, stream=False)

    async def _from_cache(
        self, plan: Plan, candidate: Candidate, cached: dict[str, Any]
    ) -> ChatCompletion:
        usage = ProviderUsage(*cached["usage"])
        completion = _completion(
            plan,
            candidate,
            str(cached["content"]),
            str(cached["finish_reason"]),
            usage,
            [],
            True,
        )
        await self.accounting.record_plan(
            plan, candidate, 200, "ok", False, usage, 0.0, [], cache_hit=True
        )
        return completion

"""What a caller may spend: its API key's model allowlist, its token budget and its rate
limit (the key's `rpm`, else the configured bucket), all by principal, never by a header."""

from __future__ import annotations

import time

from eco_llm_gateway.models import Caller, Candidate
from eco_llm_gateway.protocol import TaskSpec
from eco_llm_gateway.repository import GatewayRepository
from eco_llm_gateway.service._accounting import Accounting, budget_window
from eco_llm_gateway.settings import LlmGatewaySettings
from eco_shared.models.llm_gateway import ChatCompletionRequest
from eco_shared.problems import ProblemError

MODEL_NOT_ALLOWED = "urn:eco:problem:model-not-allowed"
BUDGET_EXHAUSTED = "urn:eco:problem:budget-exhausted"
RATE_LIMITED = "urn:eco:problem:rate-limited"


def model_not_allowed(caller: Caller, requested: str) -> ProblemError:
    """403: the caller's API key does not allow this model (the answer names what it does)."""
    allowed = list(caller.models or ())
    listed = ", ".join(allowed) if allowed else "no model"
    return ProblemError(
        403,
        f"This API key may not use {requested!r}; it allows {listed}.",
        title="Model not allowed",
        type=MODEL_NOT_ALLOWED,
        model=requested,
        allowed_models=allowed,
    )


class Access:
    """Admits a request for a caller, or refuses it (and records the refusal)."""

    def __init__(
        self, settings: LlmGatewaySettings, repository: GatewayRepository, accounting: Accounting
    ) -> None:
        self.settings = settings
        self.repo = repository
        self.accounting = accounting

    async def allowed(
        self,
        request: ChatCompletionRequest,
        caller: Caller,
        task: TaskSpec | None,
        candidates: list[Candidate],
        reason: str,
    ) -> tuple[list[Candidate], str]:
        """The candidates the key's allowlist admits (403 when none)."""
        if caller.models is None:
            return candidates, reason
        kept = [c for c in candidates if caller.allows(c.provider.name, c.model)]
        if not kept:
            await self.accounting.refused(
                request,
                caller,
                task,
                [],
                status=403,
                outcome="model_not_allowed",
                reason="the API key does not allow the model",
            )
            raise model_not_allowed(caller, request.model)
        if len(kept) < len(candidates):
            reason += f"; the API key allows {', '.join(c.label for c in kept)}"
        return kept, reason

    async def admit(
        self, request: ChatCompletionRequest, caller: Caller, task: TaskSpec | None
    ) -> None:
        """The token budget, then the rate limit (429 with Retry-After for either)."""
        if caller.budget_tokens is not None:
            await self._within_budget(request, caller, task, caller.budget_tokens)
        if caller.rpm is not None:
            capacity, refill = float(caller.rpm), caller.rpm / 60
        else:
            capacity = self.settings.rate_limit_capacity
            refill = self.settings.rate_limit_refill_per_s
        if caller.rpm == 0:
            allowed, wait = False, 60.0
        else:
            decision = await self.repo.take_token(
                caller.rate_bucket, capacity=capacity, refill_per_s=refill
            )
            allowed, wait = decision.allowed, decision.retry_after_s
        if allowed:
            return
        retry = max(1, int(wait + 0.999))
        await self.accounting.refused(
            request, caller, task, [], status=429, outcome="rate_limited", reason="rate limited"
        )
        raise ProblemError(
            429,
            f"{caller.subject} is over its rate limit; retry in {retry}s.",
            title="Rate limited",
            type=RATE_LIMITED,
            headers={"Retry-After": str(retry)},
            retry_after_s=retry,
        )

    async def _within_budget(
        self, request: ChatCompletionRequest, caller: Caller, task: TaskSpec | None, budget: int
    ) -> None:
        now = time.time()
        start, end = budget_window(self.settings.budget_period, now)
        spent = await self.repo.budget_spent(caller.budget_owner, start)
        if spent < budget:
            return
        retry = max(1, int(end - now + 0.999))
        await self.accounting.refused(
            request, caller, task, [], status=429, outcome="over_budget", reason="budget spent"
        )
        raise ProblemError(
            429,
            f"The API key's budget of {budget} tokens per {self.settings.budget_period} is "
            f"spent ({spent} used); it refills in {retry}s.",
            title="Budget exhausted",
            type=BUDGET_EXHAUSTED,
            # the OpenAI SDKs obey x-should-retry: waiting a day or a month is not a retry
            headers={"Retry-After": str(retry), "x-should-retry": "false"},
            budget_tokens=budget,
            spent_tokens=spent,
            retry_after_s=retry,
        )

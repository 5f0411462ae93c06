"""The gateway's internal models: who is calling, what the router decided before calling
anyone, and a stream that has started. The wire models are `eco_shared.models.llm_gateway`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from eco_llm_gateway.protocol import TaskSpec
from eco_llm_gateway.providers import Provider, ProviderChunk, ProviderRequest
from eco_shared.auth import Principal
from eco_shared.models.llm_gateway import Attempt, Finding


def _limit(limits: Mapping[str, Any], name: str) -> int | None:
    """A numeric limit of the key; one that is set but not a count allows nothing (0)."""
    if name not in limits or limits[name] is None:
        return None
    value = limits[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal as the gateway accounts and limits it, with its API key's limits."""

    subject: str
    actors: tuple[str, ...] = ()
    key_id: str | None = None
    # the run the call is for, from the verified token's run grant (never from a header)
    run_id: str | None = None
    # the key's model allowlist: `provider/model`, a provider's name, or a model's name
    models: tuple[str, ...] | None = None
    rpm: int | None = None
    budget_tokens: int | None = None

    @classmethod
    def of(cls, principal: Principal) -> Caller:
        limits = principal.limits
        models = limits.get("models")
        allowed: tuple[str, ...] | None = None
        if models is not None:
            valid = isinstance(models, list | tuple)
            allowed = tuple(m for m in models if isinstance(m, str)) if valid else ()
        return cls(
            subject=principal.subject,
            actors=principal.actors,
            key_id=principal.key_id,
            run_id=principal.run_id,
            models=allowed,
            rpm=_limit(limits, "rpm"),
            budget_tokens=_limit(limits, "budget_tokens"),
        )

    @property
    def rate_bucket(self) -> str:
        """Whose token bucket a request takes from: the key's own when it sets `rpm`."""
        if self.rpm is not None:
            return f"{self.subject}|key:{self.key_id or '-'}"
        return self.subject

    @property
    def budget_owner(self) -> str:
        """What a token budget is counted against: the API key (the subject without one)."""
        return f"key:{self.key_id}" if self.key_id else self.subject

    def allows(self, provider: str, model: str) -> bool:
        """Whether the key's allowlist admits this model."""
        if self.models is None:
            return True
        return any(entry in (provider, model, f"{provider}/{model}") for entry in self.models)


@dataclass
class Candidate:
    """One provider and model the router may call."""

    provider: Provider
    model: str

    @property
    def label(self) -> str:
        return f"{self.provider.name}/{self.model}"


@dataclass
class Plan:
    """What the router decided before calling anyone."""

    requested: str
    candidates: list[Candidate]
    reason: str
    fallback: bool
    findings: list[Finding]
    task: TaskSpec | None
    provider_request: ProviderRequest
    cache_key: str | None
    caller: Caller
    params: tuple[str, ...] = ()  # optional parameters set; a candidate drops what it cannot honour
    started: float = field(default_factory=time.perf_counter)

    def request_for(self, candidate: Candidate) -> ProviderRequest:
        """The provider request with the candidate's own model name."""
        return replace(self.provider_request, model=candidate.model)


@dataclass
class StreamStart:
    """A stream that has produced its first chunk (the provider is committed)."""

    plan: Plan
    candidate: Candidate | None
    attempts: list[Attempt]
    cache_hit: bool
    chunks: AsyncIterator[ProviderChunk]
    cached: dict[str, Any] | None = None

"""The gateway's internal models: what the router decided before calling anyone, and a
stream that has started. The wire models are `eco_shared.models.llm_gateway`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from eco_llm_gateway.protocol import TaskSpec
from eco_llm_gateway.providers import Provider, ProviderChunk, ProviderRequest
from eco_shared.models.llm_gateway import Attempt, Finding


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
    caller: str
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

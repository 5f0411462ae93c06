"""The interface every provider implements, and the errors the router acts on."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from eco_llm_gateway.protocol import TaskSpec
from eco_llm_gateway.settings import ProviderConfig

ErrorKind = Literal[
    "timeout",  # no answer in time
    "unavailable",  # connection refused, circuit open
    "rate_limited",  # 429 / rate-limit error body
    "server_error",  # 5xx, overloaded
    "bad_response",  # an answer that is not the protocol (garbage)
    "auth",  # 401/403: the gateway's credentials are wrong
    "rejected",  # another 4xx: the provider refused this request
]

FALLBACK_KINDS: frozenset[str] = frozenset(
    {"timeout", "unavailable", "rate_limited", "server_error", "bad_response", "auth"}
)

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def count_tokens(text: str) -> int:
    """A deterministic token estimate (words and punctuation) for providers that report none."""
    return len(_TOKEN.findall(text))


class ProviderError(Exception):
    """A provider call that produced no usable answer."""

    def __init__(
        self,
        provider: str,
        kind: ErrorKind,
        detail: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{provider}: {kind}: {detail}")
        self.provider = provider
        self.kind = kind
        self.detail = detail
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def fallback(self) -> bool:
        """Whether the router may try the next provider after this error."""
        return self.kind in FALLBACK_KINDS


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class ProviderRequest:
    """What the router asks of one provider (model is the provider's own model name)."""

    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    json_mode: bool = False
    task: TaskSpec | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ProviderUsage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ProviderResponse:
    content: str
    finish_reason: str
    usage: ProviderUsage
    model: str


@dataclass(frozen=True)
class ProviderChunk:
    """A piece of a streamed answer; the last one carries `finish_reason` (and usage if known)."""

    content: str = ""
    finish_reason: str | None = None
    usage: ProviderUsage | None = None


@dataclass
class StreamTotals:
    """What a stream added up to, filled in while it is consumed."""

    content: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: ProviderUsage | None = None


class Provider(ABC):
    """One LLM provider behind the gateway's single interface."""

    kind: str
    # Optional OpenAI parameters it honours (see service._params); the rest are refused or dropped.
    honours: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def local(self) -> bool:
        return self.config.local

    @property
    def models(self) -> list[str]:
        return list(self.config.models)

    @abstractmethod
    async def chat(self, request: ProviderRequest) -> ProviderResponse:
        """Answer a request in one piece."""

    @abstractmethod
    def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderChunk]:
        """Answer a request as chunks; errors before the first chunk raise `ProviderError`."""

    @abstractmethod
    async def check(self) -> None:
        """Raise `ProviderError` when the provider cannot answer now."""

    def error(
        self,
        kind: ErrorKind,
        detail: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> ProviderError:
        """A `ProviderError` naming this provider."""
        return ProviderError(
            self.name, kind, detail[:500], status=status, retry_after_s=retry_after_s
        )

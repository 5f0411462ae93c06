"""Calling an upstream for a page: its answer, or a sentence saying why there is none.

A page is drawn from several services; one that is away, refuses the user's scopes or
answers with an error is shown as a message in its part of the page, never as a 500.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Generic, TypeVar

import httpx
import structlog

from eco_shared.adapters import AdapterError
from eco_shared.auth import TokenError
from eco_shared.directory import ServiceNotFoundError
from eco_shared.http import ServiceCallError

T = TypeVar("T")
log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """What a page part got: `value`, or `error` (a sentence for the reader) and `status`."""

    value: T | None = None
    error: str | None = None
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def explain(service: str, exc: BaseException) -> tuple[str, int | None]:
    """A reader's sentence for a failed call, and the upstream status when there was one."""
    if isinstance(exc, AdapterError):
        detail = exc.problem.get("detail") or exc.problem.get("title") or ""
        if exc.status == 403:
            return f"{service} refused: your key lacks the scope for this ({detail}).", 403
        if exc.status == 401:
            return f"{service} did not accept your sign-in; sign in again.", 401
        if exc.status == 404:
            return f"{service} has no such thing ({detail}).".replace(" ()", ""), 404
        return f"{service} answered {exc.status}: {detail}".rstrip(": "), exc.status
    if isinstance(exc, TokenError):
        return f"The issuer refused a token for {service}: {exc}", exc.status
    if isinstance(exc, ServiceNotFoundError):
        return f"{service} is away: no healthy instance is registered.", None
    if isinstance(exc, ServiceCallError | httpx.HTTPError):
        return f"{service} is away: it did not answer.", None
    raise exc


async def fetch(service: str, call: Awaitable[T]) -> Fetched[T]:
    """Await one upstream call for a page."""
    try:
        return Fetched(value=await call)
    except (
        AdapterError,
        TokenError,
        ServiceNotFoundError,
        ServiceCallError,
        httpx.HTTPError,
    ) as exc:
        error, status = explain(service, exc)
        log.info("upstream_unavailable", service=service, error=error)
        return Fetched(error=error, status=status)

"""When a call is retried, and how long to wait: full jitter, capped, `Retry-After` first."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_random_exponential,
)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})


def retry_after_s(response: httpx.Response) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def is_idempotent(request: httpx.Request) -> bool:
    """Safe to send twice: an idempotent method, or a request carrying an Idempotency-Key."""
    return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers


def _retry_status(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def _last_outcome(state: RetryCallState) -> httpx.Response:
    assert state.outcome is not None
    response: httpx.Response = state.outcome.result()  # re-raises a final exception
    return response


class RetryPolicy:
    """Up to `attempts` tries on transport errors and 502/503/504, waits at most `max_s`."""

    def __init__(self, *, attempts: int, initial_s: float, max_s: float) -> None:
        if attempts < 1:
            raise ValueError("retries counts attempts and must be at least 1")
        self.attempts = attempts
        self.max_s = max_s
        self._jitter = wait_random_exponential(multiplier=initial_s, max=max_s)

    def retrying(self, idempotent: bool) -> AsyncRetrying:
        """A tenacity runner: all attempts for an idempotent call, one otherwise.

        When the attempts run out, the last 5xx response is returned and the last
        transport error raised.
        """
        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts if idempotent else 1),
            wait=self._wait,
            retry=retry_if_exception_type(httpx.TransportError) | retry_if_result(_retry_status),
            retry_error_callback=_last_outcome,
        )

    def _wait(self, state: RetryCallState) -> float:
        delay = self._jitter(state)
        if state.outcome is not None and not state.outcome.failed:
            retry_after = retry_after_s(state.outcome.result())
            if retry_after is not None:
                delay = retry_after
        return min(delay, self.max_s)

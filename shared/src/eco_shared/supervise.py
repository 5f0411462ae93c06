"""Background loops that never die silently: `supervised`, `start_supervised`, `run_every`.

A bare `asyncio.create_task(loop())` whose loop catches only the errors it expects ends
for good, with nothing logged until the task is garbage-collected, on the first
unexpected exception. These run the body again after a logged, capped, jittered back-off
instead; only cancellation (the owner stopping it) ends them.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable

import structlog

__all__ = ["Backoff", "run_every", "start_supervised", "supervised"]

log = structlog.get_logger(__name__)


def _is_outage(exc: BaseException) -> bool:
    """An error of a dependency being away: expected, logged as a warning without a
    traceback. Redis's errors count only where Redis is loaded (a process that never
    imported it cannot raise them, and the CLI should not pay 0.4 s importing it to ask)."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    errors = sys.modules.get("redis.exceptions")
    return errors is not None and isinstance(exc, errors.RedisError)


class Backoff:
    """Capped exponential delays with full jitter in [delay/2, delay]; `reset` after success."""

    def __init__(self, initial_s: float = 0.2, max_s: float = 10.0) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("need 0 < initial_s <= max_s")
        self.initial_s = initial_s
        self.max_s = max_s
        self.attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt (grows with each call until `reset`)."""
        delay = min(self.max_s, self.initial_s * 2.0 ** min(self.attempt, 30))
        self.attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


def _log_failure(name: str, exc: BaseException, retry_in_s: float, failures: int) -> None:
    fields = {"task": name, "error": f"{type(exc).__name__}: {exc}"[:500], "failures": failures}
    if _is_outage(exc):
        log.warning("background_task_failed", retry_in_s=round(retry_in_s, 3), **fields)
    else:
        log.exception("background_task_crashed", retry_in_s=round(retry_in_s, 3), **fields)


async def supervised(
    name: str,
    body: Callable[[], Awaitable[object]],
    *,
    initial_s: float = 0.2,
    max_s: float = 10.0,
    healthy_after_s: float = 30.0,
) -> None:
    """Run `body()` for ever: when it raises (or returns), log it and run it again.

    The back-off resets once a run of `body` lasted `healthy_after_s`, so a loop that
    fails once a day restarts quickly while one that fails at once is not spun.
    """
    backoff = Backoff(initial_s, max_s)
    failures = 0
    while True:
        started = time.monotonic()
        try:
            await body()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            if time.monotonic() - started >= healthy_after_s:
                backoff.reset()
            delay = backoff.next_delay()
            _log_failure(name, exc, delay, failures)
        else:
            if time.monotonic() - started >= healthy_after_s:
                backoff.reset()
            delay = backoff.next_delay()
            log.warning("background_task_returned", task=name, restart_in_s=round(delay, 3))
        await asyncio.sleep(delay)


def start_supervised(
    name: str, body: Callable[[], Awaitable[object]], **options: float
) -> asyncio.Task[None]:
    """`supervised(name, body)` as a task named `name` of the running loop."""
    return asyncio.create_task(supervised(name, body, **options), name=name)


async def run_every(
    name: str,
    interval_s: float,
    step: Callable[[], Awaitable[object]],
    *,
    max_backoff_s: float | None = None,
) -> None:
    """Run `step()` every `interval_s` for ever; a failing step is logged, never fatal.

    Consecutive failures stretch the wait (up to `max_backoff_s`, default 10 intervals)
    so a step that cannot succeed does not flood the log.
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be > 0")
    backoff = Backoff(interval_s, max(interval_s, max_backoff_s or interval_s * 10))
    failures = 0
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            delay = backoff.next_delay()
            _log_failure(name, exc, delay, failures)
            await asyncio.sleep(delay)
            continue
        if failures:
            log.info("background_task_recovered", task=name, failures=failures)
        failures = 0
        backoff.reset()
        await asyncio.sleep(interval_s)

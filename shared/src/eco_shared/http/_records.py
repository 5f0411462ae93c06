"""`CallRecord`: one call as it happened, handed to `record_calls()` lists and hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from eco_shared.logging import get_logger

Outcome = Literal["ok", "error", "circuit_open"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call to another service as it happened, for provenance and metrics."""

    service: str
    operation: str
    method: str
    url: str
    target: str
    started_at: datetime
    duration_ms: float
    status_code: int | None
    outcome: Outcome
    attempts: int
    error: str | None = None


CallHook = Callable[[CallRecord], None]

_recorders: ContextVar[tuple[list[CallRecord], ...]] = ContextVar("eco_call_recorders", default=())


@contextmanager
def record_calls() -> Iterator[list[CallRecord]]:
    """Collect every call made in this context, and in tasks started inside it, into a list."""
    calls: list[CallRecord] = []
    token = _recorders.set((*_recorders.get(), calls))
    try:
        yield calls
    finally:
        _recorders.reset(token)


def report(record: CallRecord, on_call: CallHook | None) -> None:
    """Log a finished call and hand it to every open `record_calls()` list and to `on_call`."""
    fields = {
        "service": record.service,
        "operation": record.operation,
        "status": record.status_code,
        "duration_ms": round(record.duration_ms, 2),
        "attempts": record.attempts,
    }
    if record.outcome == "ok":
        log.debug("service_call", **fields)
    else:
        log.warning(
            "service_call",
            **fields,
            outcome=record.outcome,
            target=record.target,
            error=record.error,
        )
    for calls in _recorders.get():
        calls.append(record)
    if on_call is not None:
        try:
            on_call(record)
        except Exception:
            # A broken metrics/provenance hook must not turn a good call into a failure.
            log.exception("service_call_hook_failed", operation=record.operation)

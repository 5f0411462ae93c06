"""A consecutive-failure circuit breaker per target (`scheme://host:port`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from eco_shared.http._errors import CircuitOpenError
from eco_shared.logging import get_logger

Clock = Callable[[], float]

log = get_logger(__name__)


class BreakerState(StrEnum):
    """States of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Consecutive-failure breaker for one target: closed, open, then one half-open probe."""

    def __init__(
        self,
        target: str,
        *,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.target = target
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """Current state (an open breaker turns half-open when the next call is admitted)."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._failures

    def retry_after_s(self) -> float:
        """Seconds until an open breaker admits a probe (0 when not open)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout_s - self._clock())

    def acquire(self) -> bool:
        """Admit one call or raise `CircuitOpenError`; True when the call is the half-open probe."""
        if self._state is BreakerState.OPEN and self.retry_after_s() == 0.0:
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = False
        if self._state is BreakerState.CLOSED:
            return False
        if self._state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        raise CircuitOpenError(self.target, self.retry_after_s())

    def record_success(self) -> None:
        """The target answered: close the circuit."""
        if self._state is not BreakerState.CLOSED:
            log.info("circuit_closed", target=self.target)
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_in_flight = False

    def record_failure(self) -> None:
        """A transport error or 5xx: open after the threshold, or at once when half-open."""
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold
        ):
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()
            self._probe_in_flight = False
            log.warning("circuit_opened", target=self.target, failures=self._failures)

    def release_probe(self) -> None:
        """Free the half-open probe slot of a call that ended without a verdict (cancelled)."""
        if self._state is BreakerState.HALF_OPEN:
            self._probe_in_flight = False

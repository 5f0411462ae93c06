"""The one HTTP client for calls between services.

Timeouts, retries with full-jitter backoff for idempotent calls, a circuit breaker per
target (`scheme://host:port`), W3C trace propagation, and a `CallRecord` of every call
for provenance (`record_calls()` or an `on_call` hook).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from types import MappingProxyType, TracebackType
from typing import Any, Literal

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_random_exponential,
)

from eco_shared.telemetry import global_inject

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "RETRY_STATUSES",
    "SERVICE_URL_SCHEME",
    "BreakerState",
    "CallRecord",
    "CircuitBreaker",
    "CircuitOpenError",
    "ServiceCallError",
    "ServiceClient",
    "Resolver",
    "ServiceUnavailableError",
    "record_calls",
]

log = structlog.get_logger()

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=2.0)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})

Outcome = Literal["ok", "error", "circuit_open"]
Clock = Callable[[], float]
CallHook = Callable[["CallRecord"], None]
# Turns a service name into a base URL (`ServiceDirectory.resolve`).
Resolver = Callable[[str], Awaitable[str]]
SERVICE_URL_SCHEME = "eco://"


class ServiceCallError(Exception):
    """A call to another service that produced no usable response."""

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target


class CircuitOpenError(ServiceCallError):
    """The target's circuit is open: the call was refused without touching the network."""

    def __init__(self, target: str, retry_after_s: float) -> None:
        super().__init__(f"circuit open for {target}", target=target)
        self.retry_after_s = retry_after_s


class ServiceUnavailableError(ServiceCallError):
    """The target could not be reached (transport errors) on any permitted attempt."""

    def __init__(self, target: str, url: str, attempts: int, error: Exception) -> None:
        super().__init__(
            f"{target} unavailable after {attempts} attempt(s): {_describe(error)}", target=target
        )
        self.url = url
        self.attempts = attempts


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


@dataclass(slots=True)
class _Call:
    service: str
    operation: str
    method: str
    url: str
    target: str
    started_at: datetime
    started: float
    attempts: int = 0
    last: httpx.Response | httpx.TransportError | None = None


class ServiceClient:
    """Async HTTP client for calls between services (one `httpx.AsyncClient` underneath)."""

    def __init__(
        self,
        *,
        service_name: str | None = None,
        client: httpx.AsyncClient | None = None,
        base_url: str | httpx.URL = "",
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        failure_threshold: int = 5,
        reset_timeout_s: float = 30.0,
        on_call: CallHook | None = None,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if retries < 1:
            raise ValueError("retries counts attempts and must be at least 1")
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=transport
        )
        self._service_name = service_name
        self._retries = retries
        self._backoff_max_s = backoff_max_s
        self._jitter = wait_random_exponential(multiplier=backoff_initial_s, max=backoff_max_s)
        self._failure_threshold = failure_threshold
        self._reset_timeout_s = reset_timeout_s
        self._on_call = on_call
        self.resolver = resolver
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    @property
    def breakers(self) -> Mapping[str, CircuitBreaker]:
        """Breakers by target, for metrics and inspection."""
        return MappingProxyType(self._breakers)

    def breaker_for(self, url: str | httpx.URL) -> CircuitBreaker:
        """The breaker of the target that `url` points at (created on first use)."""
        target = _target_of(self._client.build_request("GET", url).url)
        breaker = self._breakers.get(target)
        if breaker is None:
            breaker = CircuitBreaker(
                target,
                failure_threshold=self._failure_threshold,
                reset_timeout_s=self._reset_timeout_s,
                clock=self._clock,
            )
            self._breakers[target] = breaker
        return breaker

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        service: str | None = None,
        operation: str | None = None,
        idempotent: bool | None = None,
        **httpx_kwargs: Any,
    ) -> httpx.Response:
        """Send one request with retries and the breaker; a 5xx left after retries is returned.

        `stream=True` returns before the body is read (server-sent events, large downloads):
        the caller reads it with `aiter_lines()`/`aiter_bytes()` and must `aclose()` it.
        `url` may name a service instead of a host, `eco://<service>/<path>`: the client's
        `resolver` (a `ServiceDirectory`) picks a healthy instance of it.
        """
        if isinstance(url, str) and url.startswith(SERVICE_URL_SCHEME):
            name, url = await self._resolve_service_url(url)
            service = service or name
        send_kwargs = {
            k: httpx_kwargs.pop(k)
            for k in ("auth", "follow_redirects", "stream")
            if k in httpx_kwargs
        }
        request = self._client.build_request(method.upper(), url, **httpx_kwargs)
        if request.url.scheme not in ("http", "https"):
            raise ValueError(f"an absolute http(s) URL (or a base_url) is needed, got {url!s}")
        self._add_headers(request)
        breaker = self.breaker_for(request.url)
        call = _Call(
            service=service or request.url.host,
            operation=operation or f"{request.method} {request.url.path}",
            method=request.method,
            url=str(request.url.copy_with(userinfo=b"")),
            target=breaker.target,
            started_at=datetime.now(UTC),
            started=time.perf_counter(),
        )
        if idempotent is None:
            idempotent = (
                request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers
            )

        async def attempt() -> httpx.Response:
            if isinstance(call.last, httpx.Response):
                # A retried streamed response was never read: release its connection.
                await call.last.aclose()
            probe = breaker.acquire()
            call.attempts += 1
            try:
                response = await self._client.send(request, **send_kwargs)
            except httpx.TransportError as exc:
                call.last = exc
                breaker.record_failure()
                raise
            except BaseException:
                if probe:
                    breaker.release_probe()
                raise
            call.last = response
            if response.status_code >= 500:
                breaker.record_failure()
            else:
                breaker.record_success()
            return response

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retries if idempotent else 1),
            wait=self._wait,
            retry=retry_if_exception_type(httpx.TransportError) | retry_if_result(_retry_status),
            retry_error_callback=_last_outcome,
        )
        try:
            response: httpx.Response = await retrying(attempt)
        except CircuitOpenError as exc:
            # The breaker opened between attempts: end as if the retries had run out.
            if isinstance(call.last, httpx.Response):
                response = call.last
            elif call.last is None:
                self._finish(call, outcome="circuit_open", error=exc)
                raise
            else:
                raise self._unavailable(call, call.last) from call.last
        except httpx.TransportError as exc:
            raise self._unavailable(call, exc) from exc
        except Exception as exc:
            self._finish(call, outcome="error", error=exc)
            raise
        self._finish(
            call, outcome="ok" if response.status_code < 400 else "error", response=response
        )
        return response

    async def _resolve_service_url(self, url: str) -> tuple[str, str]:
        rest = url[len(SERVICE_URL_SCHEME) :]
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        name, path = rest[:cut], rest[cut:]
        if not name:
            raise ValueError(f"no service name in {url!r}")
        if self.resolver is None:
            raise ValueError(f"{url!r} names a service but this client has no resolver")
        base = (await self.resolver(name)).rstrip("/")
        return name, base + path

    async def get(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """`request("GET", url, ...)`."""
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """`request("POST", url, ...)`: retried only with an Idempotency-Key or idempotent=True."""
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """`request("PUT", url, ...)`."""
        return await self.request("PUT", url, **kwargs)

    async def delete(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """`request("DELETE", url, ...)`."""
        return await self.request("DELETE", url, **kwargs)

    async def close(self) -> None:
        """Close the underlying httpx client if this client created it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _add_headers(self, request: httpx.Request) -> None:
        if self._service_name and "x-eco-caller" not in request.headers:
            request.headers["X-Eco-Caller"] = self._service_name
        # A caller's own traceparent wins; httpx instrumentation, when on, replaces it in place.
        if "traceparent" not in request.headers:
            carrier: dict[str, str] = {}
            global_inject(carrier)
            for key, value in carrier.items():
                request.headers.setdefault(key, value)

    def _wait(self, state: RetryCallState) -> float:
        delay = self._jitter(state)
        if state.outcome is not None and not state.outcome.failed:
            retry_after = retry_after_s(state.outcome.result())
            if retry_after is not None:
                delay = retry_after
        return min(delay, self._backoff_max_s)

    def _unavailable(self, call: _Call, exc: httpx.TransportError) -> ServiceUnavailableError:
        self._finish(call, outcome="error", error=exc)
        return ServiceUnavailableError(call.target, call.url, call.attempts, exc)

    def _finish(
        self,
        call: _Call,
        *,
        outcome: Outcome,
        response: httpx.Response | None = None,
        error: BaseException | None = None,
    ) -> None:
        record = CallRecord(
            service=call.service,
            operation=call.operation,
            method=call.method,
            url=call.url,
            target=call.target,
            started_at=call.started_at,
            duration_ms=(time.perf_counter() - call.started) * 1000,
            status_code=response.status_code if response is not None else None,
            outcome=outcome,
            attempts=call.attempts,
            error=_describe(error) if error is not None else None,
        )
        fields = {
            "service": record.service,
            "operation": record.operation,
            "status": record.status_code,
            "duration_ms": round(record.duration_ms, 2),
            "attempts": record.attempts,
        }
        if outcome == "ok":
            log.debug("service_call", **fields)
        else:
            log.warning(
                "service_call", **fields, outcome=outcome, target=record.target, error=record.error
            )
        for calls in _recorders.get():
            calls.append(record)
        if self._on_call is not None:
            try:
                self._on_call(record)
            except Exception:
                # A broken metrics/provenance hook must not turn a good call into a failure.
                log.exception("service_call_hook_failed", operation=record.operation)


def _target_of(url: httpx.URL) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.scheme}://{url.host}:{port}"


def _retry_status(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def _last_outcome(state: RetryCallState) -> httpx.Response:
    assert state.outcome is not None
    response: httpx.Response = state.outcome.result()  # re-raises a final exception
    return response


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


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__

"""`ServiceClient`: the one async HTTP client for calls between services."""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Protocol

import httpx

from eco_shared._closing import AsyncClosing
from eco_shared.http._breaker import CircuitBreaker, Clock
from eco_shared.http._errors import CircuitOpenError, ServiceUnavailableError, describe
from eco_shared.http._records import CallHook, CallRecord, Outcome, report
from eco_shared.http._retry import RetryPolicy, is_idempotent

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=2.0)
# Turns a service name into a base URL (`ServiceDirectory.resolve`).
Resolver = Callable[[str], Awaitable[str]]
SERVICE_URL_SCHEME = "eco://"


class Tokens(Protocol):
    """Where a client gets the bearer token for a call to a named service."""

    async def token_for(self, audience: str) -> str: ...

    def forget(self, audience: str) -> None: ...


@dataclass(slots=True)
class _Call:
    record: CallRecord  # what is known before the first attempt; completed by `_finish`
    started: float
    attempts: int = 0
    last: httpx.Response | httpx.TransportError | None = None


def _target_of(url: httpx.URL) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.scheme}://{url.host}:{port}"


class ServiceClient(AsyncClosing):
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
        # short, so a target back from a restart is probed again within seconds (a run or a
        # query waits on it far less than one lease TTL)
        reset_timeout_s: float = 5.0,
        on_call: CallHook | None = None,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
        tokens: Tokens | None = None,
    ) -> None:
        self._retry = RetryPolicy(
            attempts=retries, initial_s=backoff_initial_s, max_s=backoff_max_s
        )
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=transport
        )
        self._service_name = service_name
        self._failure_threshold = failure_threshold
        self._reset_timeout_s = reset_timeout_s
        self._on_call = on_call
        self.resolver = resolver
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self.tokens = tokens

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
        authenticate: bool = True,
        **httpx_kwargs: Any,
    ) -> httpx.Response:
        """Send one request with retries and the breaker; a 5xx left after retries is returned.

        `stream=True` returns before the body is read (server-sent events, large downloads):
        the caller reads it with `aiter_lines()`/`aiter_bytes()` and must `aclose()` it.
        `url` may name a service instead of a host, `eco://<service>/<path>`: the client's
        `resolver` (a `ServiceDirectory`) picks a healthy instance of it.
        A call naming a `service` carries a bearer token for it from the client's `tokens`
        (unless it sets its own Authorization header, or `authenticate=False`: a call
        outside the ecosystem, such as an LLM provider's API, never gets one); a 401 makes
        the client fetch a fresh token and try once more.
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
        audience = None
        if self.tokens is not None and service and authenticate:
            if "authorization" not in request.headers:
                audience = service
                request.headers["Authorization"] = f"Bearer {await self.tokens.token_for(service)}"
        breaker = self.breaker_for(request.url)
        call = _Call(
            CallRecord(
                service=service or request.url.host,
                operation=operation or f"{request.method} {request.url.path}",
                method=request.method,
                url=str(request.url.copy_with(userinfo=b"")),
                target=breaker.target,
                started_at=datetime.now(UTC),
                duration_ms=0.0,
                status_code=None,
                outcome="error",
                attempts=0,
            ),
            started=time.perf_counter(),
        )
        if idempotent is None:
            idempotent = is_idempotent(request)

        async def attempt() -> httpx.Response:
            if isinstance(call.last, httpx.Response):
                # A retried streamed response was never read: release its connection.
                await call.last.aclose()
            probe = breaker.acquire()
            call.attempts += 1
            try:
                response = await self._client.send(request, **send_kwargs)
                if response.status_code == 401 and audience is not None and self.tokens:
                    # our cached token went stale (a rotated key, a revoked grant): once more
                    await response.aclose()
                    self.tokens.forget(audience)
                    token = await self.tokens.token_for(audience)
                    request.headers["Authorization"] = f"Bearer {token}"
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

        try:
            response: httpx.Response = await self._retry.retrying(idempotent)(attempt)
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

    def _add_headers(self, request: httpx.Request) -> None:
        # A caller's own traceparent wins; httpx instrumentation, when on, replaces it in place.
        # Spans and baggage live in `opentelemetry.context`: a process that never loaded it
        # has nothing to propagate, and need not load the propagators (~10 ms, entry points).
        if "traceparent" not in request.headers and "opentelemetry.context" in sys.modules:
            from opentelemetry import propagate

            carrier: dict[str, str] = {}
            propagate.inject(carrier)  # the global propagator (W3C trace context)
            for key, value in carrier.items():
                request.headers.setdefault(key, value)

    def _unavailable(self, call: _Call, exc: httpx.TransportError) -> ServiceUnavailableError:
        self._finish(call, outcome="error", error=exc)
        return ServiceUnavailableError(call.record.target, call.record.url, call.attempts, exc)

    def _finish(
        self,
        call: _Call,
        *,
        outcome: Outcome,
        response: httpx.Response | None = None,
        error: BaseException | None = None,
    ) -> None:
        record = replace(
            call.record,
            duration_ms=(time.perf_counter() - call.started) * 1000,
            status_code=response.status_code if response is not None else None,
            outcome=outcome,
            attempts=call.attempts,
            error=describe(error) if error is not None else None,
        )
        report(record, self._on_call)

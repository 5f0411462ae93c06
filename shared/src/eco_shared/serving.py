"""What every request of every service passes through: one pure-ASGI middleware.

`ServingMiddleware` does, in one layer and one wrapped `send`, what used to be the
OpenTelemetry ASGI instrumentation and four middlewares (a profile of the constant route
showed each costing a layer of calls and a wrapped `send`):

- the request id: `X-Request-ID` taken from the caller (when it is a sane token) or made,
  echoed on the response and kept in `request_id` for the log lines of the request;
- the body-size limit: an announced `Content-Length` over `max_body_bytes` is refused with
  413 at once; a streamed body is counted and refused once it passes the limit;
- back-pressure: at most `max_inflight` requests at once, the rest refused with 503 and
  `Retry-After` (an event stream gives its slot back once its headers are sent: a feed held
  open for hours is not work in progress); probes and metrics are exempt;
- Prometheus metrics: requests by method, route template and status, and their latency;
- the server span: one per request (probes, metrics and OTLP ingestion excepted, by exact
  path), joined to the caller's `traceparent`, named `METHOD /route/{template}` once the
  route is known, with the method, path, route and status, and marked as an error for a 5xx
  or a crash. It is current while the request is served, so log lines carry its ids and
  outgoing calls are its children.

Spans were FastAPI's own telemetry layer first, which cost about half as much again as this
one in process (a second pass over the headers and the query string, the server address
parsed from `Host`, a walk of the middleware stack per request, operation bookkeeping). On
a quiet machine this span is about 22 µs of the 65 µs the whole layer and the shared routes
add to a minimal FastAPI app's request, nearly all of it in the OpenTelemetry SDK
(docs/PERFORMANCE.md).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eco_shared._context import request_id
from eco_shared.problems import problem_response
from eco_shared.telemetry import extract_context

__all__ = [
    "EXEMPT_PATHS",
    "RETRY_AFTER_S",
    "UNTRACED_PATHS",
    "ServingMiddleware",
    "request_id",
]

# probes must answer under load: a loaded service is not a dead one
EXEMPT_PATHS = frozenset({"/health", "/health/ready", "/metrics"})
# OTLP ingestion (the log collector's /v1/traces) untraced, or every export makes spans;
# probes and metrics untraced, or every scrape and health check would. Exact paths: a
# route whose path merely contains "health" is traced like any other.
UNTRACED_PATHS = frozenset({*EXEMPT_PATHS, "/v1/traces"})
RETRY_AFTER_S = 1
REQUEST_ID_HEADER = b"x-request-id"
_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"
_tracer = trace.get_tracer("eco_shared.serving")
_EVENT_STREAM = b"text/event-stream"
# a caller's id is kept only when it cannot break a log line or a header
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class ServingMiddleware:
    """Server span, request id, body-size limit, in-flight cap and metrics of HTTP requests."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_inflight: int,
        registry: CollectorRegistry | None = None,
        exempt: Iterable[str] = EXEMPT_PATHS,
    ) -> None:
        if max_inflight < 1:
            raise ValueError("max_inflight must be >= 1")
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_inflight = max_inflight
        self.exempt = frozenset(exempt)
        self.inflight = 0
        self._requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self._shed = Counter(
            "http_requests_shed",
            "Requests refused with 503 because the process was at its in-flight limit.",
            registry=registry,
        )
        # read when scraped, not kept up to date by every request
        Gauge(
            "http_requests_inflight", "Requests being served now.", registry=registry
        ).set_function(lambda: self.inflight)
        # labelled children, looked up once per (method, route[, status])
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid, announced, carrier = _read_headers(scope)
        # Not reset afterwards: a crash is answered (and logged) outside this middleware,
        # with this id; each request runs in a task of its own, with a context of its own.
        request_id.set(rid)
        path = scope["path"]
        method = scope.get("method", "GET")
        span = None
        if path not in UNTRACED_PATHS:
            parent = extract_context(carrier) if carrier else None
            span = _tracer.start_span(
                method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": path},
            )
            # current while serving, and left so for a crash answered outside (its log line
            # carries the span's ids): the task's context is its own
            otel_context.attach(trace.set_span_in_context(span, parent))
        status = 500
        held = False

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self.inflight -= 1

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # a new list: a response object may be sent more than once
                headers = [*message.get("headers", ()), (REQUEST_ID_HEADER, rid.encode())]
                message = {**message, "headers": headers}
                if held and _is_event_stream(headers):
                    release()
            await send(message)

        failure: BaseException | None = None
        try:
            if announced > self.max_body_bytes:
                await self._refuse_too_large(scope, receive, send_wrapper, announced)
            elif path in self.exempt:
                await self.app(scope, receive, send_wrapper)
            elif self.inflight >= self.max_inflight:
                self._shed.inc()
                await self._refuse_overloaded(scope, receive, send_wrapper)
            else:
                self.inflight += 1
                held = True
                limited = receive if announced else self._limited(receive)
                await self.app(scope, limited, send_wrapper)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            release()
            template = self._record(scope, method, status, time.perf_counter() - started)
            if span is not None:
                _finish(span, method, template, status, failure)

    def _limited(self, receive: Receive) -> Receive:
        """`receive` refusing a streamed body (no Content-Length) once it passes the limit."""
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises HTTPException from body reading, so this becomes 413.
                    raise StarletteHTTPException(
                        413, f"The request body exceeds the limit of {limit} bytes."
                    )
            return message

        return limited_receive

    async def _refuse_too_large(
        self, scope: Scope, receive: Receive, send: Send, announced: int
    ) -> None:
        response = problem_response(
            Request(scope),
            413,
            f"The request body is {announced} bytes; the limit is {self.max_body_bytes}.",
            title="Content Too Large",
            limit_bytes=self.max_body_bytes,
        )
        await response(scope, receive, send)

    async def _refuse_overloaded(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            Request(scope),
            503,
            f"The service is serving its limit of {self.max_inflight} requests; "
            f"retry in {RETRY_AFTER_S} s.",
            title="Overloaded",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
        await response(scope, receive, send)

    def _record(self, scope: Scope, method: str, status: int, seconds: float) -> str:
        """Count the request; its route template ("unmatched" when no route took it)."""
        route = scope.get("route")
        template: str = getattr(route, "path", None) or "unmatched"
        counted = self._counted.get((method, template, status))
        if counted is None:
            counted = self._counted[(method, template, status)] = self._requests.labels(
                method, template, str(status)
            )
        timed = self._timed.get((method, template))
        if timed is None:
            timed = self._timed[(method, template)] = self._latency.labels(method, template)
        counted.inc()
        timed.observe(seconds)
        return template


def _finish(
    span: trace.Span, method: str, template: str, status: int, failure: BaseException | None
) -> None:
    if template != "unmatched":
        span.update_name(f"{method} {template}")
        span.set_attribute("http.route", template)
    span.set_attribute("http.response.status_code", status)
    if failure is not None:
        span.set_attribute("error.type", type(failure).__qualname__)
        span.set_status(StatusCode.ERROR)
    elif status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(StatusCode.ERROR)
    span.end()


def _read_headers(scope: Scope) -> tuple[str, int, dict[str, str]]:
    """(request id, announced Content-Length, trace context headers) in one pass.

    No (or an unreadable) Content-Length counts as 0 announced: the body, if any, is then
    counted as it arrives.
    """
    rid: str | None = None
    announced = 0
    carrier: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            if _SANE_ID.fullmatch(value):
                rid = value.decode("latin-1")
        elif name == b"content-length":
            try:
                announced = int(value)
            except ValueError:
                announced = 0
        elif name == _TRACEPARENT or name == _TRACESTATE:
            carrier[name.decode()] = value.decode("latin-1")
    # not a secret, only unique: 128 random bits without a system call for each
    return rid or f"{random.getrandbits(128):032x}", announced, carrier


def _is_event_stream(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.startswith(_EVENT_STREAM)
    return False

"""Back-pressure: a cap on the requests one process serves at once, answered with 503.

Without it uvicorn accepts every connection and each waits its turn on the event loop, so
under more load than a process can serve every caller times out together. Over the cap a
request is refused at once with 503 and `Retry-After`, which the shared client and the
adapters wait out and retry, so load sheds instead of piling up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eco_shared.problems import problem_response, problem_responses

__all__ = ["EXEMPT_PATHS", "RETRY_AFTER_S", "InflightLimitMiddleware", "declare_overload"]

# probes must answer under load: a loaded service is not a dead one
EXEMPT_PATHS = frozenset({"/health", "/health/ready", "/metrics"})
RETRY_AFTER_S = 1
_EVENT_STREAM = b"text/event-stream"


class InflightLimitMiddleware:
    """Serve at most `max_inflight` HTTP requests at once; refuse the rest with 503 (pure ASGI).

    A server-sent-events response gives its slot back once its headers are sent: a feed
    held open for hours is not work in progress, and would otherwise starve the process.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_inflight: int,
        *,
        exempt: Iterable[str] = EXEMPT_PATHS,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if max_inflight < 1:
            raise ValueError("max_inflight must be >= 1")
        self.app = app
        self.max_inflight = max_inflight
        self.exempt = frozenset(exempt)
        self.inflight = 0
        self._refused = Counter(
            "http_requests_shed",
            "Requests refused with 503 because the process was at its in-flight limit.",
            registry=registry,
        )
        self._gauge = Gauge(
            "http_requests_inflight", "Requests being served now.", registry=registry
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.inflight >= self.max_inflight:
            self._refused.inc()
            response = problem_response(
                Request(scope),
                503,
                f"The service is serving its limit of {self.max_inflight} requests; "
                f"retry in {RETRY_AFTER_S} s.",
                title="Overloaded",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
            await response(scope, receive, send)
            return
        self.inflight += 1
        self._gauge.inc()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self.inflight -= 1
                self._gauge.dec()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and _is_event_stream(message):
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            release()


def _is_event_stream(message: Message) -> bool:
    for name, value in message.get("headers", ()):
        if name.lower() == b"content-type":
            return bool(value.startswith(_EVENT_STREAM))
    return False


_OVERLOADED = "Overloaded, or a dependency is unavailable: retry after `Retry-After` seconds"
_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}


def declare_overload(schema: dict[str, Any], exempt: Iterable[str] = EXEMPT_PATHS) -> None:
    """Declare the 503 (with `Retry-After`) every operation may answer under load."""
    skip = frozenset(exempt)
    for path, path_item in schema.get("paths", {}).items():
        if path in skip:
            continue
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "503" not in responses:
                responses["503"] = problem_responses((503, _OVERLOADED))[503]
            responses["503"].setdefault("headers", {}).setdefault("Retry-After", dict(_RETRY_AFTER))

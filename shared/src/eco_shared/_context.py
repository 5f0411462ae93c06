"""Per-request context shared by the serving middleware, the logs and the problem bodies."""

from __future__ import annotations

from contextvars import ContextVar

# the `X-Request-ID` of the request being served (set by `eco_shared.serving`)
request_id: ContextVar[str | None] = ContextVar("eco_request_id", default=None)

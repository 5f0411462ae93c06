"""OTLP/JSON trace bodies for tests that send spans to the log collector's `/v1/traces`,
as an OpenTelemetry exporter would (hex ids, nanosecond times as strings)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any


def otlp_span(
    trace_id: str,
    name: str,
    start_ns: int,
    ms: float,
    parent: str | None = None,
    *,
    error: bool = False,
    kind: int = 2,
) -> dict[str, Any]:
    """One span of `trace_id` (a fresh span id), `ms` long from `start_ns`; status ERROR
    when `error`, else OK; `kind` 2 is SERVER."""
    return {
        "traceId": trace_id,
        "spanId": os.urandom(8).hex(),
        **({"parentSpanId": parent} if parent else {}),
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + int(ms * 1_000_000)),
        "status": {"code": 2 if error else 1},
    }


def otlp_body(by_service: Mapping[str, Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """An export request: one resource (`service.name`) per service, with its spans."""
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [{"spans": list(spans)}],
            }
            for service, spans in by_service.items()
        ]
    }

"""Stored rows as the public (wire) models."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eco_log_collector.models import EventOut, IngestErrorOut, LogRecordOut, SpanOut
from eco_log_collector.records import from_ns, from_us


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def log_out(row: Mapping[Any, Any]) -> LogRecordOut:
    """A stored (or just parsed, then without `id`) log row as its public model."""
    return LogRecordOut(
        id=row.get("id"),
        event_id=row["event_id"],
        time=from_us(row["time_us"]),
        service=row["service"],
        level=row["level"],
        message=row["message"],
        logger=row["logger"],
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        request_id=row["request_id"],
        attributes=_json(row["attributes"], {}),
    )


def event_out(row: Mapping[Any, Any]) -> EventOut:
    """A stored event row as its public model."""
    return EventOut(
        id=row["id"],
        event_id=row["event_id"],
        type=row["type"],
        source=row["source"],
        time=from_us(row["time_us"]),
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        entry_id=row["entry_id"],
        data=_json(row["data"], {}),
    )


def span_out(row: Mapping[Any, Any]) -> SpanOut:
    """A stored span row as its public model (without children)."""
    return SpanOut(
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        parent_span_id=row["parent_span_id"],
        service=row["service"],
        name=row["name"],
        kind=row["kind"],
        start=from_ns(row["start_ns"]),
        end=from_ns(row["end_ns"]),
        duration_ms=row["duration_ms"],
        status_code=row["status_code"],
        status_message=row["status_message"],
        attributes=_json(row["attributes"], {}),
        events=_json(row["events"], []),
    )


def ingest_error_out(row: Mapping[Any, Any]) -> IngestErrorOut:
    """A stored ingest error as its public model (`raw` is always an object)."""
    raw = _json(row["raw"], {})
    return IngestErrorOut(
        id=row["id"],
        event_id=row["event_id"],
        stream=row["stream"],
        entry_id=row["entry_id"],
        source=row["source"],
        reason=row["reason"],
        time=from_us(row["time_us"]),
        raw=raw if isinstance(raw, dict) else {"value": raw},
    )

"""Turn bus envelopes into table rows (and public models); reject what is not a record."""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from eco_shared.bus import Event
from eco_shared.logging import REDACTED, is_secret_key, redact, redact_text

LEVELS: dict[str, int] = {
    "debug": 10,
    "info": 20,
    "warning": 30,
    "error": 40,
    "critical": 50,
}
# spellings structlog and the standard library also use
_ALIASES = {"warn": "warning", "exception": "error", "fatal": "critical", "notice": "info"}
_RESERVED = frozenset(
    ("event", "message", "level", "service", "logger", "trace_id", "span_id", "request_id")
)
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MESSAGE = 64 * 1024
# made once: `json.dumps` with options builds a new encoder on every call
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=True)
# values that cannot hold a secret: stored as they are, without walking `redact`
_PLAIN = (int, float, bool, type(None))
# the same few field names and messages arrive on every record: their redaction is cached
_CACHED_TEXT = 200


class InvalidRecord(ValueError):
    """An envelope whose data is not a valid log record."""


def clean_text(value: Any, limit: int) -> str:
    """A string safe for every backend: no NUL, no lone surrogates, at most `limit` chars."""
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and "\x00" not in text:
        return text[:limit]
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


def dump_json(value: Any) -> str:
    """Compact, ASCII-only JSON (anything unknown as its string)."""
    return _ENCODER.encode(value)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch (a naive time counts as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    """The UTC datetime of microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=value)


def from_ns(value: int) -> datetime:
    """The UTC datetime of nanoseconds since the epoch (to the microsecond)."""
    return _EPOCH + timedelta(microseconds=value // 1000)


def nanos(us: int) -> int:
    """Microseconds as the spans table's signed 64-bit nanoseconds, clamped to their range."""
    return max(-(2**63), min(us * 1000, 2**63 - 1))


def now_us() -> int:
    """The current time in microseconds since the epoch."""
    return to_us(datetime.now(UTC))


def level_number(level: str) -> int | None:
    """The numeric level of a level name (or None when unknown)."""
    name = level.lower()
    return LEVELS.get(_ALIASES.get(name, name))


def _id(value: Any, pattern: re.Pattern[str]) -> str | None:
    if isinstance(value, str):
        value = value.lower()
        if pattern.match(value) and value.strip("0"):
            return value
    return None


def trace_ids(traceparent: str) -> tuple[str | None, str | None]:
    """Trace and span id of a W3C traceparent (None, None when absent or invalid)."""
    match = _TRACEPARENT.match(traceparent or "")
    if not match or not match.group(1).strip("0"):
        return None, None
    return match.group(1), match.group(2)


@functools.lru_cache(maxsize=4096)
def _redacted_short_text(text: str) -> str:
    return redact_text(text)


def _redacted_text(text: str) -> str:
    return _redacted_short_text(text) if len(text) <= _CACHED_TEXT else redact_text(text)


def _attributes(data: dict[str, Any]) -> dict[str, Any]:
    """The record's own fields, redacted as `redact` does (`timestamp` is the envelope's)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _RESERVED or key == "timestamp":
            continue
        if is_secret_key(key):
            out[key] = REDACTED
        elif isinstance(value, _PLAIN):
            out[key] = value
        elif isinstance(value, str):
            out[key] = _redacted_text(value)
        else:
            out[key] = redact(value, 1)
    return out


def log_row(event: Event, received_us: int) -> dict[str, Any]:
    """The log_records row of a `log.record` envelope; raise `InvalidRecord` otherwise.

    Secrets are redacted again here, as the shipper's logging does: a publisher that is not
    one of ours (or a record written straight to the stream) must not store a key in clear.
    """
    data = event.data
    raw_level = data.get("level")
    if not isinstance(raw_level, str) or not raw_level:
        raise InvalidRecord("missing level")
    name = raw_level.lower()
    level = _ALIASES.get(name, name)
    if level not in LEVELS:
        raise InvalidRecord(f"unknown level {raw_level[:40]!r}")
    message = data.get("event", data.get("message"))
    if message is None:
        raise InvalidRecord("missing event (the message)")
    if not isinstance(message, str):
        message = dump_json(message)
    service = data.get("service") or event.source
    logger = data.get("logger")
    request_id = data.get("request_id")
    message = _redacted_text(message)
    attributes = _attributes(data)
    return {
        "event_id": clean_text(event.id, 64),
        "time_us": to_us(event.timestamp),
        "service": clean_text(service, 200),
        "level": level,
        "level_no": LEVELS[level],
        "message": clean_text(message, _MAX_MESSAGE),
        "logger": clean_text(logger, 200) if logger else None,
        "trace_id": _id(data.get("trace_id"), _TRACE_ID),
        "span_id": _id(data.get("span_id"), _SPAN_ID),
        "request_id": clean_text(request_id, 100) if request_id else None,
        "attributes": dump_json(attributes),
        "received_us": received_us,
    }


def event_row(event: Event, received_us: int) -> dict[str, Any]:
    """The bus_events row of a domain event."""
    trace_id, span_id = trace_ids(event.traceparent)
    return {
        "event_id": clean_text(event.id, 200),
        "type": clean_text(event.type, 200),
        "source": clean_text(event.source, 200),
        "time_us": to_us(event.timestamp),
        "trace_id": trace_id,
        "span_id": span_id,
        "entry_id": event.entry_id or None,
        "data": dump_json(event.data),
        "received_us": received_us,
    }


def error_row(event: Event, reason: str, received_us: int) -> dict[str, Any]:
    """The ingest_errors row of an envelope that is not a valid record."""
    return {
        "event_id": clean_text(event.id, 200),
        "stream": clean_text(event.stream, 64),
        "entry_id": event.entry_id or None,
        "source": clean_text(event.source, 200),
        "reason": clean_text(reason, 2000),
        "raw": dump_json({"type": event.type, "time": event.time, "data": event.data}),
        "time_us": received_us,
    }

"""Query parameters the routers share: ids, times (through `eco_shared.params`), pages.

Each schema says exactly what the service reads, so a request the schema allows is served.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from eco_log_collector.records import now_us
from eco_log_collector.service import CURSOR_PATTERN
from eco_shared.params import TIME_HELP, parse_time_us

TRACE_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
SPAN_ID_PATTERN = r"^[0-9a-fA-F]{16}$"
STREAM_ID_PATTERN = r"^\d{1,20}-\d{1,20}$"

# What `parse_time` reads: blank (absent), an age, epoch seconds, or an RFC 3339 time.
_AGE_OR_EPOCH = r"^\s*(\d{1,9}(\.\d+)?\s*(ms|s|m|h|d|w)|\d{1,12}(\.\d+)?)?\s*$"
TIME_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "maxLength": 64, "pattern": _AGE_OR_EPOCH},
        {"type": "string", "maxLength": 64, "format": "date-time"},
        {"type": "null"},
    ],
    "examples": ["15m", "2026-12-01T19:50:00Z", "1764618600"],
}
# Times outside what a datetime holds (years 1-9999) are clamped, not refused: a window is
# only a filter, and its ends are shown back as datetimes.
_MIN_US = -62_135_596_800 * 1_000_000
_MAX_US = 253_402_300_800 * 1_000_000 - 1

TimeQuery = Annotated[
    str | None, Query(max_length=64, description=TIME_HELP, json_schema_extra=TIME_SCHEMA)
]
SinceQuery = Annotated[
    str | None,
    Query(max_length=64, description=f"{TIME_HELP}; default 1h", json_schema_extra=TIME_SCHEMA),
]
TraceIdQuery = Annotated[str | None, Query(pattern=TRACE_ID_PATTERN)]
LimitQuery = Annotated[int, Query(ge=1, le=1000)]
CursorQuery = Annotated[
    str | None,
    Query(pattern=CURSOR_PATTERN, description="The `next_cursor` of the previous page."),
]


def time_us(value: str | None, field: str) -> int | None:
    """A time parameter in microseconds since the epoch (None when absent), clamped."""
    moment = parse_time_us(value, field)
    return None if moment is None else max(_MIN_US, min(_MAX_US, moment))


def time_window(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """`since` and `until` in microseconds; an `until` before `since` is an empty window."""
    return time_us(since, "since"), time_us(until, "until")


def window_or_last_hour(since: str | None, until: str | None) -> tuple[int, int]:
    """`since` (default an hour ago) and `until` (default now) in microseconds."""
    since_us, until_us = time_window(since, until)
    if since_us is None:
        since_us = now_us() - 3600 * 1_000_000
    if until_us is None:
        until_us = now_us() + 1
    return since_us, until_us

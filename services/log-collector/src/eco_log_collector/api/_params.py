"""Query parameter parsing shared by the routers (times, cursors, trace ids)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from eco_log_collector.records import to_us
from eco_log_collector.repository import InvalidCursor, decode_cursor
from eco_shared.problems import ProblemError

_RELATIVE = re.compile(r"^(\d{1,9})(ms|s|m|h|d|w)$")
_PLUS_LOST = re.compile(r"(\d) (\d{2}:?\d{2})$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
TRACE_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
TIME_HELP = "RFC 3339 time (2024-05-01T12:00:00Z) or an age such as 30s, 15m, 2h, 7d."


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        f"{field}: {message}",
        title="Validation failed",
        type="urn:eco:problem:validation",
        errors=[{"loc": ["query", field], "field": field, "msg": message, "type": "value_error"}],
    )


def parse_time(value: str | None, field: str) -> int | None:
    """Microseconds since the epoch of an RFC 3339 time or a relative age (`15m`)."""
    if value is None or value == "":
        return None
    match = _RELATIVE.match(value.strip())
    if match:
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        return to_us(datetime.now(UTC) - timedelta(seconds=seconds))
    try:
        # a "+hh:mm" offset arrives as " hh:mm" when the client did not encode the "+"
        moment = datetime.fromisoformat(_PLUS_LOST.sub(r"\1+\2", value.strip()))
    except ValueError:
        raise _invalid(field, f"not a time: {value[:64]!r}; {TIME_HELP}") from None
    try:
        return to_us(moment)
    except OverflowError:
        raise _invalid(field, f"out of range: {value[:64]!r}") from None


def check_window(since_us: int | None, until_us: int | None) -> None:
    """Refuse a window whose end is before its start."""
    if since_us is not None and until_us is not None and until_us < since_us:
        raise _invalid("until", "must not be before since")


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    """The position of a cursor, or a 400 when it is not one of ours."""
    if not cursor:
        return None
    try:
        return decode_cursor(cursor)
    except InvalidCursor:
        raise _invalid("cursor", "not a cursor this service handed out") from None

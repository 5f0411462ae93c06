"""Query parameters every service reads the same way: points in time.

`parse_time` accepts an RFC 3339 time (an offset whose "+" a client forgot to encode
arrives as a space and is mended), epoch seconds, or an age back from now (`500ms`, `30s`,
`15m`, `2h`, `7d`, `1w`); anything else is a 422 naming the field and the forms accepted.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from eco_shared.problems import ValidationProblem

TIME_HELP = (
    "an RFC 3339 time (2024-05-01T12:00:00Z), epoch seconds, or an age such as 30s, 15m, 2h, 7d"
)
_AGE = re.compile(r"(\d{1,9}(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_EPOCH = re.compile(r"\d{1,12}(?:\.\d+)?")
_PLUS_LOST = re.compile(r"(\d) (\d{2}:?\d{2})$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_time(value: str | None, field: str, *, now: float | None = None) -> float | None:
    """Epoch seconds of a time parameter (None when absent), or a 422 `ValidationProblem`."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    now = time.time() if now is None else now
    age = _AGE.fullmatch(text)
    if age:
        return now - float(age.group(1)) * _UNITS[age.group(2)]
    if _EPOCH.fullmatch(text):
        return float(text)
    try:
        moment = datetime.fromisoformat(_PLUS_LOST.sub(r"\1+\2", text.replace("z", "Z")))
    except ValueError:
        raise _invalid(field, f"not a time: {value[:64]!r}; use {TIME_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        raise _invalid(field, f"out of range: {value[:64]!r}") from None


def parse_time_us(value: str | None, field: str) -> int | None:
    """`parse_time` in integer microseconds since the epoch."""
    seconds = parse_time(value, field)
    return None if seconds is None else round(seconds * 1_000_000)


def check_window(since: float | None, until: float | None, *, field: str = "until") -> None:
    """Refuse a window whose end is before its start."""
    if since is not None and until is not None and until < since:
        raise _invalid(field, "must not be before since")


def _invalid(field: str, message: str) -> ValidationProblem:
    return ValidationProblem.field("query", field, message, detail=f"{field}: {message}")

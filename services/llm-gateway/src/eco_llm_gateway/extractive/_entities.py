"""Entities found by patterns, each with its normalised value."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from eco_llm_gateway.extractive._patterns import (
    ECOSYSTEM_SERVICES,
    FORMATS,
    ISO_DATE,
    LEVELS,
    MONTHS,
    NUMBERS,
    PATTERNS,
    UNIT_ISO,
    UNIT_SECONDS,
)


@dataclass
class _Candidate:
    type: str
    start: int
    end: int
    value: Any
    detail: str | None = None
    priority: int = 0


def _parse_text_date(text: str) -> date | None:
    t = text.strip().lower().replace(",", " ")
    t = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", t).replace(".", " ")
    parts = t.split()
    try:
        if re.fullmatch(ISO_DATE, text.strip()):
            return date.fromisoformat(text.strip())
        if parts[0] in MONTHS:
            return date(int(parts[2]), MONTHS[parts[0]], int(parts[1]))
        if len(parts) >= 3 and parts[1] in MONTHS:
            return date(int(parts[2]), MONTHS[parts[1]], int(parts[0]))
    except (ValueError, IndexError):
        return None
    return None


_RELATIVE_DAYS = {"yesterday": -1, "today": 0, "tomorrow": 1}


def _date_value(text: str, now: datetime | None) -> Any:
    """ISO date for absolute dates; relative days resolved against `now` when given."""
    key = text.strip().lower()
    if key in _RELATIVE_DAYS:
        if now is None:
            return {"relative_days": _RELATIVE_DAYS[key]}
        return (now.date() + timedelta(days=_RELATIVE_DAYS[key])).isoformat()
    parsed = _parse_text_date(text)
    return parsed.isoformat() if parsed else None


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _window_value(match: re.Match[str], now: datetime | None) -> Any:
    groups = match.groupdict()
    if groups.get("b"):
        return {"start": _date_value(groups["a"], now), "end": _date_value(groups["b"], now)}
    direction = (groups.get("dir") or "").lower()
    if groups.get("a"):
        bound = _date_value(groups["a"], now)
        key = "start" if direction in ("since", "after") else "end"
        return {key: bound}
    unit = groups["unit"].lower().rstrip("s") if groups.get("unit") else "day"
    if unit not in UNIT_SECONDS:
        unit = unit + "s" if unit + "s" in UNIT_SECONDS else unit
    raw_n = (groups.get("n") or "1").lower()
    n = int(raw_n) if raw_n.isdigit() else NUMBERS.get(raw_n, 1)
    seconds = n * UNIT_SECONDS[unit]
    iso = UNIT_ISO[unit].format(n=n, d=2 * n, m=3 * n)
    when = {"last": "past", "past": "past", "previous": "past", "next": "future"}.get(
        direction, "future" if direction == "coming" else "current"
    )
    value: dict[str, Any] = {
        "direction": when,
        "count": n,
        "unit": unit,
        "duration": iso,
        "seconds": seconds,
    }
    if now is not None and when == "past":
        value["start"] = _iso(now - timedelta(seconds=seconds))
        value["end"] = _iso(now)
    elif now is not None and when == "future":
        value["start"] = _iso(now)
        value["end"] = _iso(now + timedelta(seconds=seconds))
    return value


def _value(kind: str, match: re.Match[str], now: datetime | None) -> Any:
    text = match.group(0)
    if kind == "time_window":
        return _window_value(match, now)
    if kind == "date":
        return _date_value(text, now)
    if kind == "datetime":
        try:
            return _iso(datetime.fromisoformat(text.replace(" ", "T")))
        except ValueError:
            return None
    if kind == "time":
        m = re.match(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s?([ap])?", text.lower())
        if m is None:
            return None
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if m.group(4) == "p" and hour < 12:
            hour += 12
        if m.group(4) == "a" and hour == 12:
            hour = 0
        return f"{hour:02d}:{minute:02d}"
    if kind == "format":
        low = text.lower()
        return FORMATS.get(low, low)
    if kind == "log_level":
        low = text.lower()
        return LEVELS.get(low, low.upper())
    if kind == "service":
        return text.lower()
    if kind == "id" and text.startswith("#"):
        return text[1:]
    return text


def _service_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = []
    for name in sorted(set(names), key=len, reverse=True):
        parts = [re.escape(p) for p in re.split(r"[-_ ]+", name) if p]
        if parts:
            alternatives.append(r"[-_ ]?".join(parts))
    if not alternatives:
        return None
    return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])", re.I)


def extract_entities(
    text: str,
    *,
    types: Sequence[str] | None = None,
    services: Sequence[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Dates, time windows, times, services, ids, formats, e-mails, URLs and log levels."""
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    wanted = set(types) if types else None
    candidates: list[_Candidate] = []
    known = [*ECOSYSTEM_SERVICES, *services]
    patterns = list(PATTERNS)
    service_re = _service_pattern(known)
    if service_re is not None:
        # Known names first: `doc-store` is a service, not an id with a `doc-` prefix.
        patterns.insert(0, ("service", service_re))
    canonical = {re.sub(r"[-_ ]+", "", n.lower()): n for n in known}
    for priority, (kind, pattern) in enumerate(patterns):
        if wanted is not None and kind not in wanted:
            continue
        for match in pattern.finditer(text):
            value = _value(kind, match, now)
            if kind == "service":
                value = canonical.get(re.sub(r"[-_ ]+", "", value), value)
            if kind in ("date", "datetime") and value is None:
                continue
            candidates.append(_Candidate(kind, match.start(), match.end(), value, None, priority))
    candidates.sort(key=lambda c: (c.start, -(c.end - c.start), c.priority))
    chosen: list[_Candidate] = []
    for candidate in candidates:
        if chosen and candidate.start < chosen[-1].end:
            continue
        chosen.append(candidate)
    entities = [
        {
            "type": c.type,
            "text": text[c.start : c.end],
            "start": c.start,
            "end": c.end,
            "value": c.value,
        }
        for c in chosen
    ]
    return {"task": "extract_entities", "entities": entities, "method": "patterns"}

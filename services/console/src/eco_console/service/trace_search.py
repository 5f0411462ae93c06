"""The traces page's search form: its URL parameters read into the log collector's filters
(a bad value a sentence, never an error page), and written back into links."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

# the time choices of the form: label -> the collector's `since` (an age)
SINCE_CHOICES: dict[str, str] = {
    "": "any time",
    "15m": "last 15 minutes",
    "1h": "last hour",
    "6h": "last 6 hours",
    "24h": "last 24 hours",
    "7d": "last 7 days",
}
MAX_MS = 1e9


def _duration(value: str, label: str, problems: list[str]) -> float | None:
    if not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (0 <= number <= MAX_MS):
        problems.append(f"{label} is a number of milliseconds from 0 to 1,000,000,000.")
        return None
    return number


@dataclass(frozen=True, slots=True)
class TraceSearch:
    """What the form asked for, as typed (so it is shown back), and what was wrong with it."""

    service: str = ""
    operation: str = ""
    min_ms: str = ""
    max_ms: str = ""
    errors: bool = False
    since: str = ""
    problems: list[str] = field(default_factory=list)
    min_value: float | None = None
    max_value: float | None = None

    @classmethod
    def read(
        cls,
        *,
        service: str | None,
        operation: str | None,
        min_ms: str | None,
        max_ms: str | None,
        errors: str | None,
        since: str | None,
    ) -> TraceSearch:
        """The form's parameters (each may be absent or blank)."""
        problems: list[str] = []
        low = _duration(min_ms or "", "Min duration", problems)
        high = _duration(max_ms or "", "Max duration", problems)
        if low is not None and high is not None and low > high:
            problems.append("Min duration is more than max duration: nothing can match.")
        when = (since or "").strip()
        if when not in SINCE_CHOICES:
            problems.append("Time is one of the choices of the form.")
            when = ""
        return cls(
            service=(service or "").strip(),
            operation=(operation or "").strip(),
            min_ms=(min_ms or "").strip(),
            max_ms=(max_ms or "").strip(),
            errors=(errors or "").strip().lower() in ("1", "true", "on", "yes"),
            since=when,
            problems=problems,
            min_value=low,
            max_value=high,
        )

    def filters(self) -> dict[str, Any]:
        """Keyword arguments of `LogCollectorAdapter.traces`."""
        return {
            "service": self.service or None,
            "operation": self.operation or None,
            "errors": self.errors or None,
            "since": self.since or None,
            "min_duration_ms": self.min_value,
            "max_duration_ms": self.max_value,
        }

    def params(self) -> dict[str, str]:
        """The search as URL parameters, blanks left out."""
        values = {
            "service": self.service,
            "operation": self.operation,
            "min_ms": self.min_ms,
            "max_ms": self.max_ms,
            "errors": "1" if self.errors else "",
            "since": self.since,
        }
        return {k: v for k, v in values.items() if v}

    def query(self, **extra: str) -> str:
        """`?…` of this search (and `extra`), for a link."""
        return "?" + urlencode({**self.params(), **{k: v for k, v in extra.items() if v}})

    @property
    def active(self) -> bool:
        return bool(self.params())


# the statistics table's sort keys: URL value -> (column label, key, largest first)
STAT_SORTS: dict[str, tuple[str, str, bool]] = {
    "service": ("service", "service", False),
    "operation": ("operation", "operation", False),
    "count": ("spans", "span_count", True),
    "errors": ("errors", "error_count", True),
    "p50": ("p50", "p50_ms", True),
    "p95": ("p95", "p95_ms", True),
    "max": ("max", "max_ms", True),
}


def sort_stats(items: list[Any], sort: str) -> list[Any]:
    """Operation statistics by one column (numbers largest first), then service, operation."""
    _, key, descending = STAT_SORTS.get(sort, STAT_SORTS["count"])
    by_name = sorted(items, key=lambda i: (i.service, i.operation))
    if key in ("service", "operation"):
        return sorted(by_name, key=lambda i: getattr(i, key))
    return sorted(by_name, key=lambda i: getattr(i, key), reverse=descending)

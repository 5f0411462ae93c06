"""The patterns entities are found by: dates, time windows, times, e-mails, URLs, ids,
formats, log levels and service names, with the tables their values are read with."""

from __future__ import annotations

import re

MONTHS = {
    m: i + 1
    for i, names in enumerate(
        (
            "january jan",
            "february feb",
            "march mar",
            "april apr",
            "may",
            "june jun",
            "july jul",
            "august aug",
            "september sep sept",
            "october oct",
            "november nov",
            "december dec",
        )
    )
    for m in names.split()
}
_MONTH = r"(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "twenty-four": 24,
    "twenty four": 24,
    "thirty": 30,
    "forty-eight": 48,
    "sixty": 60,
    "ninety": 90,
}
UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "night": 86400,
    "week": 7 * 86400,
    "weekend": 2 * 86400,
    "month": 30 * 86400,
    "quarter": 91 * 86400,
    "year": 365 * 86400,
}
UNIT_ISO = {
    "second": "PT{n}S",
    "minute": "PT{n}M",
    "hour": "PT{n}H",
    "day": "P{n}D",
    "night": "P{n}D",
    "week": "P{n}W",
    "weekend": "P{d}D",
    "month": "P{n}M",
    "quarter": "P{m}M",
    "year": "P{n}Y",
}
_COUNT = r"(\d+|" + "|".join(sorted(map(re.escape, NUMBERS), key=len, reverse=True)) + r")"
_UNIT = r"(second|minute|hour|day|night|week|weekend|month|quarter|year)s?"

ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_TEXT_DATE = (
    rf"{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
)
_ANY_DATE = rf"(?:{ISO_DATE}|{_TEXT_DATE}|yesterday|today|tomorrow)"

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "time_window",
        re.compile(rf"\bbetween\s+(?P<a>{_ANY_DATE})\s+and\s+(?P<b>{_ANY_DATE})", re.I),
    ),
    ("time_window", re.compile(rf"\b(?P<dir>since|after|before|until)\s+(?P<a>{_ANY_DATE})", re.I)),
    (
        "time_window",
        re.compile(
            rf"\b(?:(?:in|over|during|within|for)\s+)?(?:the\s+)?(?P<dir>last|past|previous|next|"
            rf"coming)\s+(?P<n>{_COUNT[1:-1]})\s+(?P<unit>{_UNIT[1:]}",
            re.I,
        ),
    ),
    (
        "time_window",
        re.compile(
            r"\b(?P<dir>last|past|previous|this|next|current)\s+"
            r"(?P<unit>hour|day|night|week|weekend|month|quarter|year)\b",
            re.I,
        ),
    ),
    (
        "datetime",
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?", re.I
        ),
    ),
    ("date", re.compile(rf"\b(?:{ISO_DATE}|{_TEXT_DATE})\b", re.I)),
    ("date", re.compile(r"\b(?:yesterday|today|tomorrow)\b", re.I)),
    (
        "time",
        re.compile(
            r"\b(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s?(?:[ap]m\b|[ap]\.m\.))?"
            r"|\b(?:1[0-2]|0?[1-9])\s?(?:[ap]m\b|[ap]\.m\.)",
            re.I,
        ),
    ),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    ("url", re.compile(r"\bhttps?://[^\s<>\"')\]]+", re.I)),
    (
        "id",
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
    ),
    (
        "id",
        re.compile(
            r"\b(?:doc|document|run|req|request|trace|span|job|task|inst|instance|user|evt|event|"
            r"msg|order|ticket)[-_:][A-Za-z0-9][A-Za-z0-9_-]{2,}\b",
            re.I,
        ),
    ),
    ("id", re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{16,64}\b", re.I)),
    ("id", re.compile(r"(?<![\w#])#\d{2,}\b")),
    (
        "format",
        re.compile(
            r"\b(markdown|md|pdf|html|json|csv|docx|txt|plain text|yaml|yml|xml|latex|rst|xlsx|"
            r"excel)\b",
            re.I,
        ),
    ),
    (
        "log_level",
        re.compile(r"\b(debug|info|warn|warnings?|errors?|critical|fatal)\b", re.I),
    ),
    (
        "service",
        re.compile(
            r"\b[a-z][a-z0-9]*(?:-[a-z0-9]+)*-(?:service|svc|api|gateway|collector|store|worker|"
            r"server|db|queue)\b"
        ),
    ),
]

ECOSYSTEM_SERVICES = (
    "discovery",
    "llm-gateway",
    "log-collector",
    "doc-store",
    "orchestrator",
    "cli",
)

FORMATS = {"md": "markdown", "yml": "yaml", "txt": "text", "plain text": "text", "excel": "xlsx"}
LEVELS = {"warn": "WARNING", "warnings": "WARNING", "errors": "ERROR"}

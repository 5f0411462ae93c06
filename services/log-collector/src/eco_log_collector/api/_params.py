"""Query parameters the routers share: ids, times (through `eco_shared.params`), pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from eco_shared.params import TIME_HELP, check_window, parse_time_us

TRACE_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
STREAM_ID_PATTERN = r"^\d{1,20}-\d{1,20}$"

TimeQuery = Annotated[str | None, Query(max_length=64, description=TIME_HELP)]
TraceIdQuery = Annotated[str | None, Query(pattern=TRACE_ID_PATTERN)]
LimitQuery = Annotated[int, Query(ge=1, le=1000)]
CursorQuery = Annotated[
    str | None, Query(max_length=200, description="The `next_cursor` of the previous page.")
]


def time_window(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """`since` and `until` in microseconds since the epoch; 422 when until is before since."""
    since_us, until_us = parse_time_us(since, "since"), parse_time_us(until, "until")
    check_window(since_us, until_us)
    return since_us, until_us

"""The tables by kind, the query filters, and the batched idempotent insert."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Table, and_, or_
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_log_collector.models import BusEvent, IngestError, LogRecord, Span

Kind = Literal["logs", "events", "spans", "ingest_errors"]

# SQLite allows 32,766 bound parameters per statement (since 3.32), PostgreSQL 65,535
_MAX_PARAMETERS = 30_000
_ROWS_PER_STATEMENT = 500

LOGS: Table = LogRecord.__table__  # type: ignore[attr-defined]
EVENTS: Table = BusEvent.__table__  # type: ignore[attr-defined]
SPANS: Table = Span.__table__  # type: ignore[attr-defined]
ERRORS: Table = IngestError.__table__  # type: ignore[attr-defined]
TABLES: dict[Kind, Table] = {
    "logs": LOGS,
    "events": EVENTS,
    "spans": SPANS,
    "ingest_errors": ERRORS,
}


@dataclass(frozen=True)
class LogQuery:
    """Filters of a page of log records; `after` is the (time_us, id) the page starts after."""

    service: str | None = None
    min_level_no: int | None = None
    trace_id: str | None = None
    q: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    limit: int = 100
    after: tuple[int, int] | None = None


@dataclass(frozen=True)
class EventQuery:
    """Filters of a page of domain events."""

    type: str | None = None
    source: str | None = None
    trace_id: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    limit: int = 100
    after: tuple[int, int] | None = None


@dataclass(frozen=True)
class TraceQuery:
    """Filters of a page of traces; `after` is the (start_ns, trace_id) the page starts after.

    `service` and `operation` name one span of the trace (both the same span when both are
    given); the times bound the trace's start, the durations its whole length.
    """

    service: str | None = None
    operation: str | None = None
    errors: bool = False
    since_ns: int | None = None
    until_ns: int | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    limit: int = 50
    after: tuple[int, str] | None = None


async def insert_ignoring_duplicates(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: a redelivered record is stored once."""
    if not rows:
        return
    # plain driver SQL, many rows per statement: several times faster than Core's per-row
    # bind processing, and a third faster than executemany of one row at a time
    columns = list(rows[0])
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    names = ", ".join(f'"{c}"' for c in columns)
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    per_statement = max(1, min(_ROWS_PER_STATEMENT, _MAX_PARAMETERS // len(columns)))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = ", ".join([one] * len(chunk))
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES {values} ON CONFLICT DO NOTHING'
        params = tuple(row[c] for row in chunk for c in columns)
        await conn.exec_driver_sql(sql, params)


def page_after(table: Table, time_col: str, after: tuple[int, int] | None) -> list[Any]:
    """The condition of a newest-first page that starts after `(time, id)`."""
    if after is None:
        return []
    t, row_id = after
    col = table.c[time_col]
    return [or_(col < t, and_(col == t, table.c.id < row_id))]

"""The tables by kind, the query filters, and the batched idempotent insert."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Table, and_, or_
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_log_collector.models import BusEvent, IngestError, LogRecord, Span

Kind = Literal["logs", "events", "spans", "ingest_errors"]

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


async def insert_ignoring_duplicates(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: a redelivered record is stored once."""
    if not rows:
        return
    # plain driver SQL with tuples: several times faster than Core's per-row bind processing
    columns = list(rows[0])
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join([mark] * len(columns))
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING'
    await conn.exec_driver_sql(sql, [tuple(row[c] for c in columns) for row in rows])


def page_after(table: Table, time_col: str, after: tuple[int, int] | None) -> list[Any]:
    """The condition of a newest-first page that starts after `(time, id)`."""
    if after is None:
        return []
    t, row_id = after
    col = table.c[time_col]
    return [or_(col < t, and_(col == t, table.c.id < row_id))]

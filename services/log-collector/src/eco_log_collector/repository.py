"""Every query of the log collector: batched idempotent inserts, pages, traces, stats."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, case, delete, func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eco_log_collector.models import BusEvent, IngestError, LogRecord, Span

LOGS: Table = LogRecord.__table__  # type: ignore[attr-defined]
EVENTS: Table = BusEvent.__table__  # type: ignore[attr-defined]
SPANS: Table = Span.__table__  # type: ignore[attr-defined]
ERRORS: Table = IngestError.__table__  # type: ignore[attr-defined]


class InvalidCursor(ValueError):
    """A pagination cursor this service did not hand out."""


def encode_cursor(time_value: int, row_id: int) -> str:
    """An opaque cursor for the position after (time, id) in newest-first order."""
    raw = json.dumps([time_value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """The (time, id) position of a cursor; raise `InvalidCursor` when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("the cursor is not valid") from exc
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise InvalidCursor("the cursor is not valid")
    return value[0], value[1]


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


@dataclass(frozen=True)
class LogQuery:
    service: str | None = None
    min_level_no: int | None = None
    trace_id: str | None = None
    q: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    limit: int = 100
    after: tuple[int, int] | None = None


def _page_after(table: Table, time_col: str, after: tuple[int, int] | None) -> list[Any]:
    if after is None:
        return []
    t, row_id = after
    col = table.c[time_col]
    return [or_(col < t, and_(col == t, table.c.id < row_id))]


async def query_logs(engine: AsyncEngine, query: LogQuery) -> list[RowMapping]:
    """Log rows matching `query`, newest first, at most `limit + 1` (to know if more exist)."""
    t = LOGS
    conditions: list[Any] = _page_after(t, "time_us", query.after)
    if query.service:
        conditions.append(t.c.service == query.service)
    if query.min_level_no is not None:
        conditions.append(t.c.level_no >= query.min_level_no)
    if query.trace_id:
        conditions.append(t.c.trace_id == query.trace_id)
    if query.since_us is not None:
        conditions.append(t.c.time_us >= query.since_us)
    if query.until_us is not None:
        conditions.append(t.c.time_us < query.until_us)
    if query.q:
        conditions.append(
            or_(
                t.c.message.icontains(query.q, autoescape=True),
                t.c.attributes.icontains(query.q, autoescape=True),
            )
        )
    stmt = (
        select(t)
        .where(*conditions)
        .order_by(t.c.time_us.desc(), t.c.id.desc())
        .limit(query.limit + 1)
    )
    async with engine.connect() as conn:
        return list((await conn.execute(stmt)).mappings())


@dataclass(frozen=True)
class EventQuery:
    type: str | None = None
    source: str | None = None
    trace_id: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    limit: int = 100
    after: tuple[int, int] | None = None


async def query_events(engine: AsyncEngine, query: EventQuery) -> list[RowMapping]:
    """Event rows matching `query`, newest first, at most `limit + 1`."""
    t = EVENTS
    conditions: list[Any] = _page_after(t, "time_us", query.after)
    if query.type:
        conditions.append(t.c.type == query.type)
    if query.source:
        conditions.append(t.c.source == query.source)
    if query.trace_id:
        conditions.append(t.c.trace_id == query.trace_id)
    if query.since_us is not None:
        conditions.append(t.c.time_us >= query.since_us)
    if query.until_us is not None:
        conditions.append(t.c.time_us < query.until_us)
    stmt = (
        select(t)
        .where(*conditions)
        .order_by(t.c.time_us.desc(), t.c.id.desc())
        .limit(query.limit + 1)
    )
    async with engine.connect() as conn:
        return list((await conn.execute(stmt)).mappings())


async def query_ingest_errors(
    engine: AsyncEngine, limit: int, after: tuple[int, int] | None
) -> list[RowMapping]:
    """Ingest error rows, newest first, at most `limit + 1`."""
    t = ERRORS
    stmt = (
        select(t)
        .where(*_page_after(t, "time_us", after))
        .order_by(t.c.time_us.desc(), t.c.id.desc())
        .limit(limit + 1)
    )
    async with engine.connect() as conn:
        return list((await conn.execute(stmt)).mappings())


@dataclass(frozen=True)
class TraceRows:
    spans: list[RowMapping]
    logs: list[RowMapping]
    events: list[RowMapping]


async def trace_rows(engine: AsyncEngine, trace_id: str, limit: int) -> TraceRows:
    """The spans, logs and events of one trace (each capped at `limit`), oldest first."""
    async with engine.connect() as conn:
        spans = await conn.execute(
            select(SPANS)
            .where(SPANS.c.trace_id == trace_id)
            .order_by(SPANS.c.start_ns, SPANS.c.id)
            .limit(limit)
        )
        logs = await conn.execute(
            select(LOGS)
            .where(LOGS.c.trace_id == trace_id)
            .order_by(LOGS.c.time_us, LOGS.c.id)
            .limit(limit)
        )
        events = await conn.execute(
            select(EVENTS)
            .where(EVENTS.c.trace_id == trace_id)
            .order_by(EVENTS.c.time_us, EVENTS.c.id)
            .limit(limit)
        )
        return TraceRows(list(spans.mappings()), list(logs.mappings()), list(events.mappings()))


@dataclass(frozen=True)
class TraceListRow:
    trace_id: str
    start_ns: int
    end_ns: int
    span_count: int
    error_count: int


async def list_traces(
    engine: AsyncEngine,
    *,
    service: str | None,
    since_ns: int | None,
    min_duration_ms: float | None,
    limit: int,
) -> tuple[list[TraceListRow], dict[str, list[str]], dict[str, RowMapping]]:
    """Recent traces (newest first) with their services and root spans."""
    t = SPANS
    conditions: list[Any] = []
    if since_ns is not None:
        conditions.append(t.c.start_ns >= since_ns)
    if service:
        conditions.append(
            t.c.trace_id.in_(select(t.c.trace_id).where(t.c.service == service).distinct())
        )
    start = func.min(t.c.start_ns)
    end = func.max(t.c.end_ns)
    errors = func.sum(case((t.c.status_code == "error", 1), else_=0))
    stmt = (
        select(
            t.c.trace_id,
            start.label("start_ns"),
            end.label("end_ns"),
            func.count().label("span_count"),
            errors.label("error_count"),
        )
        .where(*conditions)
        .group_by(t.c.trace_id)
        .order_by(start.desc())
        .limit(limit)
    )
    if min_duration_ms is not None:
        stmt = stmt.having((end - start) >= int(min_duration_ms * 1_000_000))
    async with engine.connect() as conn:
        rows = [
            TraceListRow(r.trace_id, r.start_ns, r.end_ns, r.span_count, int(r.error_count or 0))
            for r in await conn.execute(stmt)
        ]
        ids = [r.trace_id for r in rows]
        services: dict[str, list[str]] = {i: [] for i in ids}
        roots: dict[str, RowMapping] = {}
        if ids:
            pairs = await conn.execute(
                select(t.c.trace_id, t.c.service)
                .where(t.c.trace_id.in_(ids))
                .distinct()
                .order_by(t.c.trace_id, t.c.service)
            )
            for trace_id, svc in pairs:
                services[trace_id].append(svc)
            # the earliest span whose parent is not stored is the root
            parent = t.alias("parent")
            orphans = await conn.execute(
                select(t.c.trace_id, t.c.service, t.c.name, t.c.start_ns)
                .where(
                    t.c.trace_id.in_(ids),
                    ~select(parent.c.id)
                    .where(
                        parent.c.trace_id == t.c.trace_id,
                        parent.c.span_id == t.c.parent_span_id,
                    )
                    .exists(),
                )
                .order_by(t.c.trace_id, t.c.start_ns)
            )
            for row in orphans.mappings():
                roots.setdefault(row["trace_id"], row)
    return rows, services, roots


async def log_counts(
    engine: AsyncEngine, since_us: int, until_us: int
) -> list[tuple[str, str, int]]:
    """(service, level, count) of the logs in [since, until)."""
    t = LOGS
    stmt = (
        select(t.c.service, t.c.level, func.count())
        .where(t.c.time_us >= since_us, t.c.time_us < until_us)
        .group_by(t.c.service, t.c.level)
        .order_by(t.c.service, t.c.level)
    )
    async with engine.connect() as conn:
        return [(s, lvl, int(n)) for s, lvl, n in await conn.execute(stmt)]


async def table_totals(engine: AsyncEngine) -> dict[str, int]:
    """How many logs, events, spans and ingest errors are stored."""
    async with engine.connect() as conn:
        totals = {}
        for name, table in (
            ("logs", LOGS),
            ("events", EVENTS),
            ("spans", SPANS),
            ("ingest_errors", ERRORS),
        ):
            totals[name] = int(
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            )
        return totals


async def delete_older_than(
    engine: AsyncEngine, table: Table, time_col: str, cutoff: int, batch_size: int
) -> int:
    """Delete up to `batch_size` rows whose `time_col` is before `cutoff`; return how many."""
    ids = select(table.c.id).where(table.c[time_col] < cutoff).limit(batch_size)
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            result = await conn.execute(delete(table).where(table.c.id.in_(ids.scalar_subquery())))
        else:
            result = await conn.execute(delete(table).where(table.c.id.in_(ids)))
        return int(result.rowcount or 0)

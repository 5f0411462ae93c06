"""`LogRepository`: every SQL query of the log collector."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, case, delete, func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_log_collector.repository._tables import (
    ERRORS,
    EVENTS,
    LOGS,
    SPANS,
    TABLES,
    EventQuery,
    Kind,
    LogQuery,
    TraceQuery,
    insert_ignoring_duplicates,
    page_after,
)


@dataclass(frozen=True)
class TraceRows:
    """The stored spans, logs and events of one trace, oldest first."""

    spans: list[RowMapping]
    logs: list[RowMapping]
    events: list[RowMapping]


@dataclass(frozen=True)
class TraceListRow:
    """One trace of the recent-traces list, aggregated over its spans."""

    trace_id: str
    start_ns: int
    end_ns: int
    span_count: int
    error_count: int


@dataclass(frozen=True)
class TraceListing:
    """Recent traces with the services they touched and their root span (where stored)."""

    rows: list[TraceListRow]
    services: dict[str, list[str]]
    roots: dict[str, RowMapping]


def _trace_and_window(
    t: Table, trace_id: str | None, since_us: int | None, until_us: int | None
) -> list[Any]:
    conditions: list[Any] = []
    if trace_id:
        conditions.append(t.c.trace_id == trace_id)
    if since_us is not None:
        conditions.append(t.c.time_us >= since_us)
    if until_us is not None:
        conditions.append(t.c.time_us < until_us)
    return conditions


class LogRepository:
    """Logs, events, spans and ingest errors in one SQL database (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def insert(self, rows: Mapping[Kind, Sequence[dict[str, Any]]]) -> None:
        """Store rows of several kinds in one transaction, ignoring duplicates."""
        async with self.engine.begin() as conn:
            for kind, batch in rows.items():
                await insert_ignoring_duplicates(conn, TABLES[kind], batch)

    async def logs(self, query: LogQuery) -> list[RowMapping]:
        """Log rows matching `query`, newest first, at most `limit + 1` (to know if more exist)."""
        t = LOGS
        conditions: list[Any] = page_after(t, "time_us", query.after)
        if query.service:
            conditions.append(t.c.service == query.service)
        if query.min_level_no is not None:
            conditions.append(t.c.level_no >= query.min_level_no)
        conditions += _trace_and_window(t, query.trace_id, query.since_us, query.until_us)
        if query.q:
            conditions.append(
                or_(
                    t.c.message.icontains(query.q, autoescape=True),
                    t.c.attributes.icontains(query.q, autoescape=True),
                )
            )
        return await self._newest_first(t, conditions, query.limit)

    async def events(self, query: EventQuery) -> list[RowMapping]:
        """Event rows matching `query`, newest first, at most `limit + 1`."""
        t = EVENTS
        conditions: list[Any] = page_after(t, "time_us", query.after)
        if query.type:
            conditions.append(t.c.type == query.type)
        if query.source:
            conditions.append(t.c.source == query.source)
        conditions += _trace_and_window(t, query.trace_id, query.since_us, query.until_us)
        return await self._newest_first(t, conditions, query.limit)

    async def ingest_errors(self, limit: int, after: tuple[int, int] | None) -> list[RowMapping]:
        """Ingest error rows, newest first, at most `limit + 1`."""
        return await self._newest_first(ERRORS, page_after(ERRORS, "time_us", after), limit)

    async def _newest_first(self, t: Table, conditions: list[Any], limit: int) -> list[RowMapping]:
        stmt = (
            select(t)
            .where(*conditions)
            .order_by(t.c.time_us.desc(), t.c.id.desc())
            .limit(limit + 1)
        )
        async with self.engine.connect() as conn:
            return list((await conn.execute(stmt)).mappings())

    async def trace(self, trace_id: str, limit: int) -> TraceRows:
        """The spans, logs and events of one trace (each capped at `limit`), oldest first."""
        async with self.engine.connect() as conn:
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

    async def traces(self, query: TraceQuery) -> TraceListing:
        """Traces matching `query` (newest first, at most `limit + 1`) with their services
        and root spans."""
        t = SPANS
        conditions: list[Any] = []
        if query.since_ns is not None:
            conditions.append(t.c.start_ns >= query.since_ns)
        if query.service or query.operation:
            # one span of the trace is this service's, and/or this operation
            one: list[Any] = []
            if query.service:
                one.append(t.c.service == query.service)
            if query.operation:
                one.append(t.c.name == query.operation)
            conditions.append(t.c.trace_id.in_(select(t.c.trace_id).where(*one).distinct()))
        start = func.min(t.c.start_ns)
        end = func.max(t.c.end_ns)
        errors = func.sum(case((t.c.status_code == "error", 1), else_=0))
        having: list[Any] = []
        if query.until_ns is not None:
            having.append(start < query.until_ns)
        if query.min_duration_ms is not None:
            having.append((end - start) >= int(query.min_duration_ms * 1_000_000))
        if query.max_duration_ms is not None:
            having.append((end - start) <= int(query.max_duration_ms * 1_000_000))
        if query.errors:
            having.append(errors > 0)
        if query.after is not None:
            at, trace_id = query.after
            having.append(or_(start < at, and_(start == at, t.c.trace_id < trace_id)))
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
            .order_by(start.desc(), t.c.trace_id.desc())
            .limit(query.limit + 1)
        )
        if having:
            stmt = stmt.having(*having)
        async with self.engine.connect() as conn:
            rows = [
                TraceListRow(
                    r.trace_id, r.start_ns, r.end_ns, r.span_count, int(r.error_count or 0)
                )
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
        return TraceListing(rows, services, roots)

    async def log_counts(self, since_us: int, until_us: int) -> list[tuple[str, str, int]]:
        """(service, level, count) of the logs in [since, until)."""
        t = LOGS
        stmt = (
            select(t.c.service, t.c.level, func.count())
            .where(t.c.time_us >= since_us, t.c.time_us < until_us)
            .group_by(t.c.service, t.c.level)
            .order_by(t.c.service, t.c.level)
        )
        async with self.engine.connect() as conn:
            return [(s, lvl, int(n)) for s, lvl, n in await conn.execute(stmt)]

    async def totals(self) -> dict[str, int]:
        """How many logs, events, spans and ingest errors are stored."""
        async with self.engine.connect() as conn:
            totals: dict[str, int] = {}
            for kind, table in TABLES.items():
                count = await conn.execute(select(func.count()).select_from(table))
                totals[kind] = int(count.scalar_one())
            return totals

    async def delete_expired(self, kind: Kind, cutoff_us: int, batch_size: int) -> int:
        """Delete up to `batch_size` rows of `kind` from before `cutoff_us`; return how many."""
        table = TABLES[kind]
        # spans are timed in nanoseconds, everything else in microseconds
        column, cutoff = (
            ("start_ns", cutoff_us * 1000) if kind == "spans" else ("time_us", cutoff_us)
        )
        ids = select(table.c.id).where(table.c[column] < cutoff).limit(batch_size)
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                ids_in = table.c.id.in_(ids.scalar_subquery())
            else:
                ids_in = table.c.id.in_(ids)
            result = await conn.execute(delete(table).where(ids_in))
            return int(result.rowcount or 0)

"""`SpanRepository`: the span queries across traces (a span's trace, per-operation figures,
the service graph)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_log_collector.repository._tables import SPANS


@dataclass(frozen=True)
class OperationRow:
    """Exact counts and maximum of one (service, operation) in a window."""

    service: str
    operation: str
    span_count: int
    error_count: int
    max_ms: float


@dataclass(frozen=True)
class EdgeRow:
    """Child spans of `child` whose parent span is `parent`'s."""

    parent: str
    child: str
    call_count: int
    error_count: int


def _window(since_ns: int, until_ns: int) -> list[object]:
    return [SPANS.c.start_ns >= since_ns, SPANS.c.start_ns < until_ns]


class SpanRepository:
    """Reads of the spans table that cross traces."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def span(self, span_id: str) -> RowMapping | None:
        """The newest stored span with this id (ids are per trace; a clash is rare)."""
        t = SPANS
        stmt = select(t).where(t.c.span_id == span_id).order_by(t.c.start_ns.desc()).limit(1)
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).mappings().first()

    async def operations(
        self, since_ns: int, until_ns: int, service: str | None, limit: int
    ) -> list[OperationRow]:
        """(service, operation) groups of the window, busiest first, at most `limit + 1`."""
        t = SPANS
        conditions = _window(since_ns, until_ns)
        if service:
            conditions.append(t.c.service == service)
        count = func.count()
        stmt = (
            select(
                t.c.service,
                t.c.name,
                count.label("n"),
                func.sum(case((t.c.status_code == "error", 1), else_=0)).label("errors"),
                func.max(t.c.duration_ms).label("max_ms"),
            )
            .where(*conditions)
            .group_by(t.c.service, t.c.name)
            .order_by(count.desc(), t.c.service, t.c.name)
            .limit(limit + 1)
        )
        async with self.engine.connect() as conn:
            return [
                OperationRow(r.service, r.name, int(r.n), int(r.errors or 0), float(r.max_ms))
                for r in await conn.execute(stmt)
            ]

    async def durations(
        self, since_ns: int, until_ns: int, service: str | None, per_operation: int
    ) -> dict[tuple[str, str], list[float]]:
        """The durations of each operation's newest `per_operation` spans of the window."""
        t = SPANS
        conditions = _window(since_ns, until_ns)
        if service:
            conditions.append(t.c.service == service)
        rank = (
            func.row_number()
            .over(partition_by=(t.c.service, t.c.name), order_by=(t.c.start_ns.desc(), t.c.id))
            .label("rank")
        )
        ranked = select(t.c.service, t.c.name, t.c.duration_ms, rank).where(*conditions).subquery()
        stmt = select(ranked.c.service, ranked.c.name, ranked.c.duration_ms).where(
            ranked.c.rank <= per_operation
        )
        found: dict[tuple[str, str], list[float]] = {}
        async with self.engine.connect() as conn:
            for svc, name, ms in await conn.execute(stmt):
                found.setdefault((svc, name), []).append(float(ms))
        return found

    async def dependencies(self, since_ns: int, until_ns: int, limit: int) -> list[EdgeRow]:
        """Cross-service parent→child span pairs of the window (child's start), by pair."""
        child = SPANS
        parent = SPANS.alias("parent")
        count = func.count()
        stmt = (
            select(
                parent.c.service.label("parent"),
                child.c.service.label("child"),
                count.label("n"),
                func.sum(case((child.c.status_code == "error", 1), else_=0)).label("errors"),
            )
            .select_from(
                child.join(
                    parent,
                    and_(
                        parent.c.trace_id == child.c.trace_id,
                        parent.c.span_id == child.c.parent_span_id,
                    ),
                )
            )
            .where(*_window(since_ns, until_ns), parent.c.service != child.c.service)
            .group_by(parent.c.service, child.c.service)
            .order_by(count.desc(), parent.c.service, child.c.service)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [
                EdgeRow(r.parent, r.child, int(r.n), int(r.errors or 0))
                for r in await conn.execute(stmt)
            ]

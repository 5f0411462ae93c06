"""`AuditRepository`: the audit trail's SQL: append under a lock, pages, the chain in order.

There is no update and no delete here (and the database refuses both): the trail only
grows. Appends are serialised (PostgreSQL: an EXCLUSIVE table lock, which readers do not
wait for; SQLite: one writer at a time, and `seq` is the primary key, so two appenders that
raced for the same link cannot both commit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_log_collector.models import AuditRecord

AUDIT: Table = AuditRecord.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ChainTip:
    """The last link of the chain: its sequence number and hash."""

    seq: int
    hash: str


@dataclass(frozen=True)
class AuditQuery:
    """Filters of a page of the audit trail; `before_seq` is where the page starts."""

    type: str | None = None
    subject: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    limit: int = 100
    before_seq: int | None = None


# (the tip, the event ids already stored) -> the rows to append after the tip
ChainBuilder = Callable[[ChainTip | None, set[str]], list[dict[str, Any]]]


class AuditRepository:
    """The `audit_events` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def append(self, event_ids: Sequence[str], build: ChainBuilder) -> ChainTip | None:
        """Append what `build` makes of the tip and the ids already stored; the new tip."""
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                await conn.exec_driver_sql(f'LOCK TABLE "{AUDIT.name}" IN EXCLUSIVE MODE')
            last = (
                await conn.execute(
                    select(AUDIT.c.seq, AUDIT.c.hash).order_by(AUDIT.c.seq.desc()).limit(1)
                )
            ).first()
            tip = ChainTip(last.seq, last.hash) if last is not None else None
            existing: set[str] = set()
            if event_ids:
                stored = await conn.execute(
                    select(AUDIT.c.event_id).where(AUDIT.c.event_id.in_(list(event_ids)))
                )
                existing = set(stored.scalars())
            rows = build(tip, existing)
            if not rows:
                return tip
            await conn.execute(insert(AUDIT), rows)
            return ChainTip(rows[-1]["seq"], rows[-1]["hash"])

    async def page(self, query: AuditQuery) -> list[RowMapping]:
        """Rows matching `query`, newest (highest seq) first, at most `limit + 1`."""
        t = AUDIT
        conditions: list[Any] = []
        if query.before_seq is not None:
            conditions.append(t.c.seq < query.before_seq)
        if query.type:
            conditions.append(t.c.type == query.type)
        if query.subject:
            conditions.append(or_(t.c.subject == query.subject, t.c.actor == query.subject))
        if query.since_us is not None:
            conditions.append(t.c.time_us >= query.since_us)
        if query.until_us is not None:
            conditions.append(t.c.time_us < query.until_us)
        stmt = select(t).where(*conditions).order_by(t.c.seq.desc()).limit(query.limit + 1)
        async with self.engine.connect() as conn:
            return list((await conn.execute(stmt)).mappings())

    async def chain(self, after_seq: int, limit: int) -> list[RowMapping]:
        """Up to `limit` rows after `after_seq`, in chain order (for verification)."""
        stmt = select(AUDIT).where(AUDIT.c.seq > after_seq).order_by(AUDIT.c.seq).limit(limit)
        async with self.engine.connect() as conn:
            return list((await conn.execute(stmt)).mappings())

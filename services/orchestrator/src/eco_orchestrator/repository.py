"""All queries on the run store, and its outbox of `run.*` events."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from eco_orchestrator.models import TERMINAL, Run, utcnow
from eco_shared.outbox import OutboxRelay, outbox_table, stage
from eco_shared.pagination import cut_page

OUTBOX_TABLE = "orchestrator_outbox"
# On the run table's metadata, so the migrations test holds it against 0002 like the rest.
outbox: sa.Table = outbox_table(OUTBOX_TABLE, Run.metadata)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(at: datetime) -> int:
    """`at` as whole microseconds since the epoch (a naive time is UTC, as SQLite's are)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    """The aware UTC time `value` microseconds after the epoch."""
    return _EPOCH + timedelta(microseconds=value)


def run_key(run: Run) -> tuple[int, str]:
    """A run's place in the newest-first order: the sort key its cursor holds."""
    return micros(run.created_at), run.id


# The `run.*` bus event (type, data) that announces a run-status write.
Announcement = tuple[str, Mapping[str, Any]]


class RunRepository:
    """Runs in SQL (SQLite or PostgreSQL); the schema is the migrations' (`migrations/`).

    A status write's `run.*` event is staged in `orchestrator_outbox` in the write's own
    transaction; `relay` (the lifespan's `OutboxRelay`) publishes it and is woken on commit.
    """

    def __init__(self, engine: AsyncEngine, relay: OutboxRelay | None = None) -> None:
        self.engine = engine
        self.relay = relay
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def add(self, run: Run, announce: Announcement | None = None) -> Run:
        """Insert a new run; `announce` is staged in the outbox in the same transaction."""
        async with self._sessions() as session:
            session.add(run)
            if announce is not None:
                await session.flush()
                await stage(await session.connection(), outbox, *announce)
            await session.commit()
        if announce is not None and self.relay is not None:
            self.relay.notify()
        return run

    async def get(self, run_id: str) -> Run | None:
        """One run by id."""
        async with self._sessions() as session:
            return await session.get(Run, run_id)

    async def list(
        self,
        *,
        status: str | None,
        user_id: str | None,
        page: int,
        page_size: int,
        owner: str | None = None,
        visible_to: str | None = None,
        after: tuple[int, str] | None = None,
    ) -> tuple[list[Run], int, str | None]:
        """Runs newest first (`created_at`, then id, both descending), filtered, with the
        total count and the cursor of the next page; `visible_to` limits them to one
        owner's (None: everyone's). With `after` (a decoded cursor: created_at in epoch
        microseconds, run id) the page is the rows after that key and `page` is ignored."""
        conditions = []
        if status is not None:
            conditions.append(Run.status == status)
        if user_id is not None:
            conditions.append(Run.user_id == user_id)
        for who in (owner, visible_to):
            if who is not None:
                conditions.append(Run.owner == who)
        keyset = list(conditions)
        if after is not None:
            at = from_micros(after[0])
            keyset.append(
                sa.or_(
                    Run.created_at < at,  # type: ignore[arg-type]
                    sa.and_(Run.created_at == at, Run.id < after[1]),  # type: ignore[arg-type]
                )
            )
        statement = (
            select(Run)
            .where(*keyset)
            .order_by(Run.created_at.desc(), Run.id.desc())  # type: ignore[attr-defined]
            .limit(page_size + 1)
        )
        if after is None:
            statement = statement.offset((page - 1) * page_size)
        async with self._sessions() as session:
            total = (
                await session.execute(select(func.count()).select_from(Run).where(*conditions))
            ).scalar_one()
            rows = list((await session.execute(statement)).scalars())
        runs, next_cursor = cut_page(rows, page_size, run_key)
        return runs, int(total), next_cursor

    async def made(self, document_id: str, *, visible_to: str | None) -> Run | None:
        """The newest run that stored `document_id` (of `visible_to` only, unless None)."""
        conditions = [Run.document_id == document_id]
        if visible_to is not None:
            conditions.append(Run.owner == visible_to)
        async with self._sessions() as session:
            rows = await session.execute(
                select(Run)
                .where(*conditions)
                .order_by(Run.created_at.desc())  # type: ignore[attr-defined]
                .limit(1)
            )
            return rows.scalars().first()

    async def update(
        self,
        run_id: str,
        *,
        only_if: Collection[str] | None = None,
        announce: Announcement | None = None,
        **fields: Any,
    ) -> bool:
        """Set fields of a run (only when its status is in `only_if`); True if it changed.

        `announce` is staged in the outbox in the same transaction, only if the run changed.
        """
        fields["updated_at"] = utcnow()
        statement = update(Run).where(Run.id == run_id)  # type: ignore[arg-type]
        if only_if is not None:
            statement = statement.where(Run.status.in_(list(only_if)))  # type: ignore[attr-defined]
        async with self._begin() as conn:
            result = await conn.execute(statement.values(**fields))
            changed = bool(result.rowcount)
            if changed and announce is not None:
                await stage(conn, outbox, *announce)
            return changed

    async def stage_event(self, event_type: str, data: Mapping[str, Any]) -> None:
        """Stage a bus event that announces no run write of its own (a user's feedback)."""
        async with self._begin() as conn:
            await stage(conn, outbox, event_type, data)

    def _begin(self) -> AbstractAsyncContextManager[AsyncConnection]:
        # Through the relay, so a commit wakes it; without one the rows wait for a relay.
        return self.relay.begin() if self.relay is not None else self.engine.begin()

    async def prunable(self, cutoff: datetime, limit: int = 100) -> list[str]:
        """Finished runs older than `cutoff` whose checkpoints are still kept."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(Run.id)
                .where(
                    Run.status.in_(list(TERMINAL)),  # type: ignore[attr-defined]
                    Run.finished_at < cutoff,  # type: ignore[operator]
                    Run.checkpoints_pruned == False,  # noqa: E712
                )
                .limit(limit)
            )
            return [str(r) for r in rows.scalars()]

"""All queries on the run store, and its outbox of `run.*` events."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from eco_orchestrator.models import TERMINAL, Run, utcnow
from eco_shared.outbox import OutboxRelay, outbox_table, stage

OUTBOX_TABLE = "orchestrator_outbox"
# On the run table's metadata, so the migrations test holds it against 0002 like the rest.
outbox: sa.Table = outbox_table(OUTBOX_TABLE, Run.metadata)

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

    async def add(self, run: Run) -> Run:
        """Insert a new run."""
        async with self._sessions() as session:
            session.add(run)
            await session.commit()
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
    ) -> tuple[list[Run], int]:
        """Runs newest first, filtered, with the total count; `visible_to` limits them to
        one owner's (None: everyone's)."""
        conditions = []
        if status is not None:
            conditions.append(Run.status == status)
        if user_id is not None:
            conditions.append(Run.user_id == user_id)
        for who in (owner, visible_to):
            if who is not None:
                conditions.append(Run.owner == who)
        async with self._sessions() as session:
            total = (
                await session.execute(select(func.count()).select_from(Run).where(*conditions))
            ).scalar_one()
            rows = await session.execute(
                select(Run)
                .where(*conditions)
                .order_by(Run.created_at.desc(), Run.id)  # type: ignore[attr-defined]
                .offset((page - 1) * page_size)
                .limit(page_size)
            )
            return list(rows.scalars()), int(total)

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

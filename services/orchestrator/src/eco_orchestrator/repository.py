"""All queries on the run store."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from eco_orchestrator.models import TERMINAL, Run, utcnow


class RunRepository:
    """Runs in SQL (SQLite or PostgreSQL); the schema is the migrations' (`migrations/`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
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
        self, *, status: str | None, user_id: str | None, page: int, page_size: int
    ) -> tuple[list[Run], int]:
        """Runs newest first, filtered, with the total count."""
        conditions = []
        if status is not None:
            conditions.append(Run.status == status)
        if user_id is not None:
            conditions.append(Run.user_id == user_id)
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

    async def update(
        self, run_id: str, *, only_if: Collection[str] | None = None, **fields: Any
    ) -> bool:
        """Set fields of a run (only when its status is in `only_if`); True if it changed."""
        fields["updated_at"] = utcnow()
        statement = update(Run).where(Run.id == run_id)  # type: ignore[arg-type]
        if only_if is not None:
            statement = statement.where(Run.status.in_(list(only_if)))  # type: ignore[attr-defined]
        async with self.engine.begin() as conn:
            result = await conn.execute(statement.values(**fields))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def increment_executions(self, run_id: str, executed_by: str) -> None:
        """Count one more execution attempt of a run by `executed_by`."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(Run)
                .where(Run.id == run_id)  # type: ignore[arg-type]
                .values(executions=Run.executions + 1, executed_by=executed_by, updated_at=utcnow())
            )

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

"""The run store's schema (the run table and the outbox) comes from its Alembic migrations,
on SQLite and PostgreSQL, and a database made by the old `create_all` start-up is taken over
as it is."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from eco_orchestrator.migrations import VERSION_TABLE
from eco_orchestrator.models import Run, utcnow
from eco_orchestrator.repository import OUTBOX_TABLE, RunRepository, outbox
from eco_shared.db import create_engine, current_revision, downgrade, head_revision, migrate

PACKAGE = "eco_orchestrator.migrations"
TABLE = "orchestrator_runs"


async def _schema(engine: AsyncEngine, table: str = TABLE) -> dict[str, Any]:
    def read(conn: sa.Connection) -> dict[str, Any]:
        inspector = sa.inspect(conn)
        if not inspector.has_table(table):
            return {}
        return {
            "columns": {c["name"]: c["nullable"] for c in inspector.get_columns(table)},
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            # PostgreSQL lists a unique constraint's index too: it is compared as the constraint
            "indexes": {
                i["name"]: tuple(i["column_names"])
                for i in inspector.get_indexes(table)
                if not i.get("duplicates_constraint")
            },
            "unique": {
                u["name"]: tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            },
        }

    async with engine.connect() as conn:
        return await conn.run_sync(read)


def _model_schema(table: sa.Table | None = None) -> dict[str, Any]:
    table = Run.__table__ if table is None else table  # type: ignore[attr-defined]
    return {
        "columns": {c.name: c.nullable for c in table.columns},
        "primary_key": ["id"],
        "indexes": {i.name: tuple(c.name for c in i.columns) for i in table.indexes},
        "unique": {
            u.name: tuple(c.name for c in u.columns)
            for u in table.constraints
            if isinstance(u, sa.UniqueConstraint)
        },
    }


async def test_migrations_create_the_run_table_of_the_model(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
        assert await current_revision(engine, version_table=VERSION_TABLE) == head_revision(PACKAGE)
        assert await _schema(engine) == _model_schema()
        assert await _schema(engine, OUTBOX_TABLE) == _model_schema(outbox)
        await migrate(engine, PACKAGE, version_table=VERSION_TABLE)  # idempotent
        repo = RunRepository(engine)
        await repo.add(Run(id="r1", query="q"))
        assert (await repo.get("r1")) is not None
        await downgrade(engine, PACKAGE, version_table=VERSION_TABLE)
        assert await _schema(engine) == {}
        assert await _schema(engine, OUTBOX_TABLE) == {}
        assert await current_revision(engine, version_table=VERSION_TABLE) is None
    finally:
        await engine.dispose()


async def test_a_create_all_database_is_taken_over_with_its_runs(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all, tables=[Run.__table__])  # type: ignore[attr-defined]
            # an index lost on the way comes back
            await conn.execute(sa.text("DROP INDEX ix_orchestrator_runs_finished_at"))
        repo = RunRepository(engine)
        await repo.add(Run(id="old", query="kept", status="completed", finished_at=utcnow()))

        await migrate(engine, PACKAGE, version_table=VERSION_TABLE)

        assert await current_revision(engine, version_table=VERSION_TABLE) == head_revision(PACKAGE)
        assert await _schema(engine) == _model_schema()
        assert await _schema(engine, OUTBOX_TABLE) == _model_schema(outbox)
        old = await repo.get("old")
        assert old is not None
        assert (old.query, old.status) == ("kept", "completed")
    finally:
        await engine.dispose()

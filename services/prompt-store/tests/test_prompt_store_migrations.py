"""Alembic migrations of the prompt store: from an empty database (SQLite and PostgreSQL)
to head, a re-run as a no-op, the 0001 tables exactly as the models declare them, and
down to nothing and up again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_prompt_store import repository  # noqa: F401 - puts the outbox table on the metadata
from eco_prompt_store.migrations import PACKAGE, VERSION_TABLE
from eco_prompt_store.models import PromptStoreTable
from eco_shared.db import create_engine, current_revision, downgrade, head_revision, migrate

TABLES = {"prompts", "prompt_versions", "prompt_labels", "prompt_label_moves"}
OUTBOX = "prompt_store_outbox"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


def _schema_diff(conn: sa.Connection) -> list[object]:
    """Differences between the models and the migrated schema, for the 0001 tables."""
    ours = TABLES | {OUTBOX}

    def table_of(diff: object) -> str | None:
        item = diff[1] if isinstance(diff, tuple) else diff
        if isinstance(item, sa.Table):
            return item.name
        table = getattr(item, "table", None)
        if table is not None:
            return str(table.name)
        if isinstance(diff, list) and diff:  # column changes: [(op, schema, table, ...)]
            return str(diff[0][2])
        return None

    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return [d for d in compare_metadata(context, PromptStoreTable.metadata) if table_of(d) in ours]


async def test_migrations_from_empty_match_the_models_and_go_down_and_up(
    engine: AsyncEngine,
) -> None:
    assert await _tables(engine) == set()
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
    assert TABLES | {OUTBOX, VERSION_TABLE} <= await _tables(engine)
    head = head_revision(PACKAGE)
    assert await current_revision(engine, version_table=VERSION_TABLE) == head
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE)  # a no-op at head
    assert await current_revision(engine, version_table=VERSION_TABLE) == head

    await downgrade(engine, PACKAGE, version_table=VERSION_TABLE, revision="base")
    assert not (TABLES | {OUTBOX}) & await _tables(engine)
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE, revision="0001")
    assert await current_revision(engine, version_table=VERSION_TABLE) == "0001"
    assert TABLES | {OUTBOX} <= await _tables(engine)
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
    assert await current_revision(engine, version_table=VERSION_TABLE) == head

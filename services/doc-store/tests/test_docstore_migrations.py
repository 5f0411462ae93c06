"""Alembic migrations: from an empty database, re-run as a no-op, down and up again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from eco_doc_store.migrations import (
    VERSION_TABLE,
    current_revision,
    downgrade_database,
    head_revision,
    sync_database_url,
    upgrade_database,
)
from eco_doc_store.models import DocStoreTable

TABLES = {"documents", "document_versions", "document_contents"}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(sync_database_url(url))
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = sa.create_engine(sync_database_url(url))
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def test_migrations_from_empty_and_rerun_idempotently(database_url: str) -> None:
    assert _tables(database_url) == set()
    assert _revision(database_url) is None
    upgrade_database(database_url)
    tables = _tables(database_url)
    assert TABLES | {VERSION_TABLE} <= tables
    assert ("document_search" in tables) or ("document_fts" in tables)
    assert _revision(database_url) == head_revision() == "0001"

    engine = sa.create_engine(sync_database_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO documents (id, latest_version, created_at, updated_at)"
                    " VALUES ('keep-me', 1, '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
                )
            )
        upgrade_database(database_url)  # a second run changes nothing
        upgrade_database(database_url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id FROM documents")).scalars().all() == ["keep-me"]
            count = conn.execute(sa.text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar_one()
            assert count == 1
            # The models and the migrations describe the same schema.
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            diff = compare_metadata(context, DocStoreTable.metadata)
            relevant = [
                d
                for d in diff
                if not (d[0] == "remove_table" and d[1].name not in TABLES)
                and not (d[0] == "remove_index" and d[1].table.name not in TABLES)
            ]
            assert relevant == []
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    upgrade_database(database_url)
    downgrade_database(database_url)
    assert _tables(database_url) - {VERSION_TABLE} == set()
    assert _revision(database_url) is None
    upgrade_database(database_url)
    assert TABLES <= _tables(database_url)
    assert _revision(database_url) == head_revision()

"""Migrations: idempotent, matching the models, on their own version table.

The collector once kept its revision in Alembic's default `alembic_version`; a database
migrated that way comes up on `log_collector_alembic_version` with its rows intact, and
another project's `alembic_version` is left alone.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_log_collector import migrations
from eco_log_collector import repository as repo
from eco_log_collector.records import to_us
from eco_shared.db import create_engine, current_revision, head_revision, migrate
from eco_shared.testing.auth import TestAuth

AUTH = TestAuth("log-collector")

HEAD = head_revision(migrations.PACKAGE)
LEGACY = migrations.LEGACY_VERSION_TABLE
OWN_TABLES = {t.name for t in (repo.LOGS, repo.EVENTS, repo.SPANS, repo.ERRORS, repo.AUDIT)}


def _log(event_id: str) -> dict[str, Any]:
    now = to_us(datetime.now(UTC))
    return {
        "event_id": event_id,
        "time_us": now,
        "service": "legacy",
        "level": "info",
        "level_no": 20,
        "message": event_id,
        "attributes": "{}",
        "received_us": now,
    }


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def _versions(engine: AsyncEngine, table: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f'SELECT version_num FROM "{table}" ORDER BY 1'))
        return [row[0] for row in rows]


async def _foreign_version_table(engine: AsyncEngine, *revisions: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(f'CREATE TABLE "{LEGACY}" (version_num VARCHAR(32) NOT NULL PRIMARY KEY)')
        )
        for revision in revisions:
            await conn.execute(text(f'INSERT INTO "{LEGACY}" VALUES (:r)'), {"r": revision})


async def _migrated_the_old_way(engine: AsyncEngine, *event_ids: str) -> None:
    """The schema as the collector made it before: our scripts, Alembic's default table."""
    await migrate(engine, migrations.PACKAGE, version_table=LEGACY)
    await repo.LogRepository(engine).insert({"logs": [_log(i) for i in event_ids]})


async def test_migrations_are_idempotent_and_match_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import MetaData
    from sqlmodel import SQLModel

    # SQLModel's metadata is one per process: keep only the collector's own tables
    own = MetaData()
    for table in SQLModel.metadata.tables.values():
        if table.name in OWN_TABLES:
            table.to_metadata(own)
    assert set(own.tables) == OWN_TABLES
    engine = create_engine(database_url)
    try:
        await migrations.upgrade(engine)
        await migrations.upgrade(engine)  # a second start-up changes nothing

        def diff(conn: Any) -> list[Any]:
            opts = {"version_table": migrations.VERSION_TABLE}
            return compare_metadata(MigrationContext.configure(conn, opts=opts), own)

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
            assert (await conn.execute(select(repo.LOGS))).all() == []
        assert await current_revision(engine, version_table=migrations.VERSION_TABLE) == HEAD
        assert LEGACY not in await _tables(engine)
    finally:
        await engine.dispose()


async def test_a_database_migrated_the_old_way_moves_to_the_new_version_table(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await _migrated_the_old_way(engine, "kept-1", "kept-2")
        await migrations.upgrade(engine)
        assert await current_revision(engine, version_table=migrations.VERSION_TABLE) == HEAD
        assert LEGACY not in await _tables(engine)  # it held only our row: dropped
        async with engine.connect() as conn:
            stored = sorted((await conn.execute(select(repo.LOGS.c.event_id))).scalars())
        assert stored == ["kept-1", "kept-2"]
        await migrations.upgrade(engine)  # and the next start-up is a no-op
        assert await _versions(engine, migrations.VERSION_TABLE) == [HEAD]
    finally:
        await engine.dispose()


def test_a_collector_on_a_database_migrated_the_old_way_serves_its_rows(
    start_collector: Any, database_url: str
) -> None:
    async def prepare() -> None:
        engine = create_engine(database_url)
        try:
            await _migrated_the_old_way(engine, "from-before")
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    collector = start_collector()
    items = httpx.get(f"{collector.url}/logs", params={"service": "legacy"}, auth=AUTH).json()[
        "items"
    ]
    assert [i["message"] for i in items] == ["from-before"]


@pytest.mark.parametrize(
    "foreign",
    [
        pytest.param(["ae1027a6acf"], id="another-projects-revision"),
        # the same id as ours, but the collector's tables are not there: not ours either
        pytest.param(["0001"], id="a-revision-named-like-ours"),
    ],
)
async def test_a_foreign_alembic_version_is_left_alone(
    database_url: str, foreign: list[str]
) -> None:
    engine = create_engine(database_url)
    try:
        await _foreign_version_table(engine, *foreign)
        await migrations.upgrade(engine)
        assert await _versions(engine, LEGACY) == foreign
        assert await current_revision(engine, version_table=migrations.VERSION_TABLE) == HEAD
        assert {"log_records", "bus_events", "spans", "ingest_errors"} <= await _tables(engine)
    finally:
        await engine.dispose()


async def test_a_shared_alembic_version_keeps_the_other_projects_row(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await _migrated_the_old_way(engine, "mine")
        async with engine.begin() as conn:
            await conn.execute(text(f"INSERT INTO \"{LEGACY}\" VALUES ('ae1027a6acf')"))
        await migrations.upgrade(engine)
        assert await _versions(engine, LEGACY) == ["ae1027a6acf"]
        assert await _versions(engine, migrations.VERSION_TABLE) == [HEAD]
    finally:
        await engine.dispose()


async def test_a_move_interrupted_before_the_row_was_copied_is_finished(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await _migrated_the_old_way(engine, "mine")
        async with engine.begin() as conn:  # the new table made, nothing in it yet
            await conn.execute(
                text(
                    f'CREATE TABLE "{migrations.VERSION_TABLE}" '
                    "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
                )
            )
        await migrations.upgrade(engine)
        assert await _versions(engine, migrations.VERSION_TABLE) == [HEAD]
        assert LEGACY not in await _tables(engine)
    finally:
        await engine.dispose()


async def test_replicas_starting_together_move_the_row_once(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        await _migrated_the_old_way(engines[0], "mine")
        await asyncio.gather(*(migrations.upgrade(e) for e in engines))
        assert await _versions(engines[0], migrations.VERSION_TABLE) == [HEAD]
        assert LEGACY not in await _tables(engines[0])
    finally:
        for engine in engines:
            await engine.dispose()

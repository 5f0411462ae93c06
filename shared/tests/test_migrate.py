"""The one migration runner on SQLite and PostgreSQL: idempotent, per-service version
tables, and two replicas starting at once."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from eco_shared.db import create_engine, current_revision, downgrade, head_revision, migrate

ENV = """
from sqlalchemy import MetaData

from eco_shared.db import run_migrations

run_migrations(MetaData())
"""
REVISION = """
import time

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))
    # long enough that two unlocked runners would both see an empty database
    time.sleep(0.5)


def downgrade() -> None:
    op.drop_table("{table}")
"""


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A real migrations package on sys.path; returns (package name, its table)."""
    name = f"migr_{uuid.uuid4().hex[:8]}"
    table = f"{name}_things"
    root = tmp_path / "pkgs" / name
    (root / "versions").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "env.py").write_text(ENV)
    (root / "versions" / "0001_initial.py").write_text(
        textwrap.dedent(REVISION.format(table=table))
    )
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    yield name, table
    sys.modules.pop(name, None)


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_migrate_is_idempotent_with_a_version_table_of_its_own(
    database_url: str, package: tuple[str, str]
) -> None:
    name, table = package
    engine = create_engine(database_url)
    try:
        assert head_revision(name) == "0001"
        assert await current_revision(engine, version_table="demo_alembic_version") is None
        await migrate(engine, name, version_table="demo_alembic_version")
        await migrate(engine, name, version_table="demo_alembic_version")  # a no-op
        assert await current_revision(engine, version_table="demo_alembic_version") == "0001"
    finally:
        await engine.dispose()
    tables = await _tables(database_url)
    assert {table, "demo_alembic_version"} <= tables
    assert "alembic_version" not in tables  # Alembic's default name is never used


async def test_two_replicas_migrating_at_once_both_succeed(
    database_url: str, package: tuple[str, str]
) -> None:
    name, table = package
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        await asyncio.gather(
            *(migrate(e, name, version_table="demo_alembic_version") for e in engines)
        )
        async with engines[0].connect() as conn:
            versions = await conn.execute(text("SELECT version_num FROM demo_alembic_version"))
            assert [row[0] for row in versions] == ["0001"]
    finally:
        for engine in engines:
            await engine.dispose()
    assert table in await _tables(database_url)


async def test_downgrade_removes_what_the_upgrade_made(
    database_url: str, package: tuple[str, str]
) -> None:
    name, table = package
    engine = create_engine(database_url)
    try:
        await migrate(engine, name, version_table="demo_alembic_version")
        await downgrade(engine, name, version_table="demo_alembic_version")
        assert await current_revision(engine, version_table="demo_alembic_version") is None
    finally:
        await engine.dispose()
    assert table not in await _tables(database_url)

"""SQL database helpers: async engines, the one migration runner, a readiness check.

SQLite (a file under the data dir) is the default everywhere; a `postgresql://` URL
switches to PostgreSQL through psycopg 3. Every service's schema changes through Alembic
with `migrate(engine, "eco_<service>.migrations", version_table=...)`; the package's
`env.py` is two lines: `run_migrations(Base.metadata)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib
import os
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
}


def async_database_url(url: str) -> str:
    """Map `sqlite://` and `postgresql://` URLs to the async drivers we ship."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory of a SQLite file URL (no-op for other databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL and a busy timeout for concurrent writers."""
    async_url = async_database_url(url)
    if async_url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_async_engine(async_url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(async_url, **kwargs)


def database_check(engine: AsyncEngine) -> Any:
    """A readiness check that runs `SELECT 1` on `engine`."""

    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def _alembic_config(package: str, version_table: str, connection: Connection | None) -> Config:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    config = Config()
    config.set_main_option("script_location", str(Path(module.__file__).parent))
    config.attributes["version_table"] = version_table
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def run_migrations(target_metadata: MetaData) -> None:
    """The body of every migrations package's `env.py`: run on the connection `migrate` gave."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through eco_shared.db.migrate")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=context.config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def head_revision(package: str) -> str | None:
    """The newest revision a migrations package ships."""
    return ScriptDirectory.from_config(_alembic_config(package, "", None)).get_current_head()


async def current_revision(engine: AsyncEngine, *, version_table: str) -> str | None:
    """The revision the database is at (None when it was never migrated)."""

    def read(connection: Connection) -> str | None:
        opts = {"version_table": version_table}
        return MigrationContext.configure(connection, opts=opts).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def migrate(
    engine: AsyncEngine,
    package: str,
    *,
    version_table: str,
    revision: str = "head",
    prepare: Callable[[Connection], object] | None = None,
) -> None:
    """Upgrade to `revision`; idempotent, and one replica at a time.

    On PostgreSQL a session advisory lock (keyed by the version table, so services sharing
    a database do not wait for each other) is held for the whole upgrade; on SQLite an
    exclusive lock on a file beside the database does the same for processes on this host.
    `prepare(connection)` runs first under the same lock (e.g. to adopt an old version table).
    """

    def step(connection: Connection) -> None:
        if prepare is not None:
            prepare(connection)
        command.upgrade(_alembic_config(package, version_table, connection), revision)

    await _run(engine, version_table, step)


async def downgrade(
    engine: AsyncEngine, package: str, *, version_table: str, revision: str = "base"
) -> None:
    """Migrate down to `revision` (tests and operators only)."""

    def step(connection: Connection) -> None:
        command.downgrade(_alembic_config(package, version_table, connection), revision)

    await _run(engine, version_table, step)


@contextlib.asynccontextmanager
async def _sqlite_file_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        yield
        return
    fd = os.open(f"{database}.migrate-lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


async def _run(engine: AsyncEngine, version_table: str, step: Callable[[Connection], None]) -> None:
    key = zlib.crc32(version_table.encode())
    async with _sqlite_file_lock(engine), engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            await conn.commit()
        try:
            await conn.run_sync(step)
            await conn.commit()
        finally:
            if postgres:
                await conn.rollback()
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await conn.commit()

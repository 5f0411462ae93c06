"""The durable checkpointer: SQLite under the data dir by default, PostgreSQL when configured.

(`langgraph-checkpoint-redis` needs the RediSearch/JSON modules that plain Redis lacks.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite
import structlog
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from eco_orchestrator.settings import OrchestratorSettings

log = structlog.get_logger(__name__)


def postgres_conninfo(url: str) -> str:
    """A libpq URI from a SQLAlchemy-style URL (`postgresql+psycopg://` → `postgresql://`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def open_checkpointer(
    settings: OrchestratorSettings, *, max_connections: int = 10
) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """Open, set up and finally close the checkpointer the settings call for."""
    if settings.uses_postgres():
        pool = AsyncConnectionPool(
            postgres_conninfo(settings.run_database_url()),
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            open=False,
        )
        await pool.open(wait=True, timeout=15)
        try:
            saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
            for attempt in range(5):
                try:
                    await saver.setup()
                    break
                except (
                    pg_errors.UniqueViolation,
                    pg_errors.DuplicateTable,
                    pg_errors.DuplicateObject,
                ):
                    # another replica is running the same migrations right now
                    await asyncio.sleep(0.2 * (attempt + 1))
            yield saver
        finally:
            await pool.close()
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "orchestrator-checkpoints.db"
    async with aiosqlite.connect(str(path), timeout=30) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA busy_timeout=30000")
        # in WAL mode NORMAL syncs at checkpoints, not at every commit: a process crash loses
        # nothing, a power cut at most the newest checkpoints, which a resumed run redoes
        await conn.execute("PRAGMA synchronous=NORMAL")
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        yield saver

"""Alembic migrations of the log collector, run at start-up through `eco_shared.db.migrate`.

The version table is `log_collector_alembic_version`; a database migrated before it had
that name (its revision in Alembic's default `alembic_version`) is moved over first.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from eco_log_collector.migrations._legacy import LEGACY_VERSION_TABLE, adopt_legacy_version
from eco_shared.db import migrate

PACKAGE = "eco_log_collector.migrations"
VERSION_TABLE = "log_collector_alembic_version"

__all__ = ["LEGACY_VERSION_TABLE", "PACKAGE", "VERSION_TABLE", "upgrade"]


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there."""
    await migrate(
        engine,
        PACKAGE,
        version_table=VERSION_TABLE,
        # under migrate's lock, so replicas starting together move the row once
        prepare=lambda connection: adopt_legacy_version(connection, VERSION_TABLE),
    )

"""Move a log-collector revision out of Alembic's default `alembic_version` table.

The collector once kept its revision there, where it collides with any other Alembic user
of a shared PostgreSQL database. The row moves only when it names one of our revisions and
our tables exist (so another project's `0001` is left alone), and only while the new table
holds nothing (so a move interrupted half-way is finished at the next start).
"""

from __future__ import annotations

from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

LEGACY_VERSION_TABLE = "alembic_version"
# a table the first revision creates: proof that the legacy row is the collector's
_OWN_TABLE = "log_records"


def adopt_legacy_version(connection: Connection, version_table: str) -> list[str]:
    """Move our revision from `alembic_version` to `version_table`; return what moved."""
    tables = set(inspect(connection).get_table_names())
    if LEGACY_VERSION_TABLE not in tables or _OWN_TABLE not in tables:
        return []
    if version_table in tables:
        already = connection.execute(text(f'SELECT count(*) FROM "{version_table}"')).scalar()
        if already:
            return []
    legacy = connection.execute(text(f'SELECT version_num FROM "{LEGACY_VERSION_TABLE}"'))
    scripts = ScriptDirectory(str(Path(__file__).parent))
    ours = {script.revision for script in scripts.walk_revisions()}
    moving = sorted({row[0] for row in legacy} & ours)
    if not moving:
        return []
    context = MigrationContext.configure(connection, opts={"version_table": version_table})
    for revision in moving:
        context.stamp(scripts, revision)
    for revision in moving:
        connection.execute(
            text(f'DELETE FROM "{LEGACY_VERSION_TABLE}" WHERE version_num = :rev'),
            {"rev": revision},
        )
    left = connection.execute(text(f'SELECT count(*) FROM "{LEGACY_VERSION_TABLE}"')).scalar()
    if not left:
        connection.execute(text(f'DROP TABLE "{LEGACY_VERSION_TABLE}"'))
    return moving

"""Alembic migrations of the prompt store, shipped inside the package and run at start-up.

`eco_shared.db.migrate(engine, PACKAGE, version_table=VERSION_TABLE)` runs them.
"""

PACKAGE = "eco_prompt_store.migrations"
VERSION_TABLE = "prompt_store_alembic_version"

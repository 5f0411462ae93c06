"""Alembic migrations of the doc store, shipped inside the package and run at start-up.

`eco_shared.db.migrate(engine, PACKAGE, version_table=VERSION_TABLE)` runs them.
"""

PACKAGE = "eco_doc_store.migrations"
VERSION_TABLE = "doc_store_alembic_version"

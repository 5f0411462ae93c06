"""Alembic environment: runs on the connection that `upgrade_database` hands over."""

from __future__ import annotations

from alembic import context

from eco_doc_store.migrations import VERSION_TABLE
from eco_doc_store.models import DocStoreTable

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through eco_doc_store.migrations.upgrade_database")

context.configure(
    connection=connection,
    target_metadata=DocStoreTable.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

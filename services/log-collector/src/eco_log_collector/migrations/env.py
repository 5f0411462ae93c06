"""Alembic environment: runs on the connection handed over by `migrations.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from eco_log_collector import models  # noqa: F401  (registers the tables)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through eco_log_collector.migrations.upgrade")
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

"""Alembic environment: runs on the connection `eco_shared.db.migrate` hands over."""

from __future__ import annotations

from sqlmodel import SQLModel

from eco_log_collector import models  # noqa: F401  (registers the tables)
from eco_shared.db import run_migrations

run_migrations(SQLModel.metadata)

"""Alembic environment of the run store (run through `eco_shared.db.migrate`)."""

from __future__ import annotations

from sqlmodel import SQLModel

from eco_orchestrator import models  # noqa: F401  (registers the run table)
from eco_shared.db import run_migrations

run_migrations(SQLModel.metadata)

"""Alembic migrations of the run store, run at start-up by `eco_shared.db.migrate`."""

VERSION_TABLE = "orchestrator_alembic_version"

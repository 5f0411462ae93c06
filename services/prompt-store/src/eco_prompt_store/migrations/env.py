"""Alembic environment: runs on the connection `eco_shared.db.migrate` hands over."""

from eco_prompt_store.models import PromptStoreTable
from eco_shared.db import run_migrations

run_migrations(PromptStoreTable.metadata)

"""Alembic environment: runs on the connection `eco_shared.db.migrate` hands over."""

from eco_doc_store.models import DocStoreTable
from eco_shared.db import run_migrations

run_migrations(DocStoreTable.metadata)

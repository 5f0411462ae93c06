"""The doc store's outboxes: `document.*` events (`eco.events`) and audit records
(`eco.audit`), each staged in the write's transaction."""

from __future__ import annotations

import sqlalchemy as sa

from eco_doc_store.models import DocStoreTable
from eco_shared.outbox import outbox_table

OUTBOX_TABLE = "doc_store_outbox"
AUDIT_OUTBOX_TABLE = "doc_store_audit_outbox"
AUDIT_STREAM = "eco.audit"
# On the models' metadata, so the migrations test holds them against 0003/0004 like the rest.
outbox: sa.Table = outbox_table(OUTBOX_TABLE, DocStoreTable.metadata)
audit_outbox: sa.Table = outbox_table(AUDIT_OUTBOX_TABLE, DocStoreTable.metadata)

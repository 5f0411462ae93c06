"""The doc store's outbox: `document.*` events staged in the write's transaction."""

from __future__ import annotations

import sqlalchemy as sa

from eco_doc_store.models import DocStoreTable
from eco_shared.outbox import outbox_table

OUTBOX_TABLE = "doc_store_outbox"
# On the models' metadata, so the migrations test holds it against 0003 like the rest.
outbox: sa.Table = outbox_table(OUTBOX_TABLE, DocStoreTable.metadata)

"""Every query of the doc store (SQLite and PostgreSQL), on a connection the caller owns."""

from eco_doc_store.repository._documents import (
    claim_next_version,
    find_by_idempotency_key,
    first_version_id,
    get_content,
    get_contents,
    get_document,
    get_version_row,
    get_view,
    insert_documents,
    insert_versions,
    list_versions,
    mark_deleted,
    versions_up_to,
)
from eco_doc_store.repository._fulltext import (
    index_documents,
    reindex_document,
    search,
    unindex_document,
)
from eco_doc_store.repository._outbox import (
    AUDIT_OUTBOX_TABLE,
    AUDIT_STREAM,
    OUTBOX_TABLE,
    audit_outbox,
    outbox,
)
from eco_doc_store.repository._tables import (
    DocumentRow,
    IdempotencyKeyTaken,
    NewDocument,
    NewVersion,
    is_postgres,
)

__all__ = [
    "AUDIT_OUTBOX_TABLE",
    "AUDIT_STREAM",
    "DocumentRow",
    "IdempotencyKeyTaken",
    "NewDocument",
    "NewVersion",
    "OUTBOX_TABLE",
    "audit_outbox",
    "claim_next_version",
    "find_by_idempotency_key",
    "first_version_id",
    "get_content",
    "get_contents",
    "get_document",
    "get_version_row",
    "get_view",
    "index_documents",
    "insert_documents",
    "insert_versions",
    "is_postgres",
    "list_versions",
    "mark_deleted",
    "outbox",
    "reindex_document",
    "search",
    "unindex_document",
    "versions_up_to",
]

"""The tables the queries run on, and the rows they hand back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from eco_doc_store.models import Document, DocumentContent, DocumentVersion

documents: sa.Table = Document.__table__  # type: ignore[attr-defined]
versions: sa.Table = DocumentVersion.__table__  # type: ignore[attr-defined]
contents: sa.Table = DocumentContent.__table__  # type: ignore[attr-defined]
# The full-text tables are dialect-specific and made by the migrations, not the models.
fts = sa.table(
    "document_fts",
    sa.column("rowid", sa.Integer),
    sa.column("title"),
    sa.column("body"),
    sa.column("stitle"),
    sa.column("sbody"),
    sa.column("owner"),
)
pg_search = sa.table(
    "document_search",
    sa.column("document_id"),
    sa.column("version_id"),
    sa.column("tsv"),
    sa.column("stsv"),
    sa.column("owner"),
    sa.column("created_at"),
)

VIEW_COLUMNS = (
    documents.c.id,
    documents.c.owner,
    documents.c.latest_version,
    documents.c.created_at,
    documents.c.updated_at,
    documents.c.deleted_at,
    versions.c.id.label("version_id"),
    versions.c.version,
    versions.c.title,
    versions.c.format,
    versions.c.sha256,
    versions.c.size_bytes,
    versions.c["metadata"],
    versions.c.created_at.label("version_created_at"),
)


@dataclass(frozen=True)
class DocumentRow:
    """The `documents` row."""

    id: str
    owner: str
    idempotency_key: str | None
    request_sha256: str | None
    latest_version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class NewDocument:
    """What a create stores in `documents` (at version 1)."""

    document_id: str
    owner: str
    idempotency_key: str | None
    request_sha256: str | None
    now: datetime


@dataclass(frozen=True)
class NewVersion:
    """What a write stores for one version."""

    document_id: str
    version: int
    title: str
    format: str
    sha256: str
    size_bytes: int
    metadata: dict[str, Any]
    provenance: dict[str, Any] | None
    created_at: datetime
    content: bytes
    principal: str
    acting_chain: list[str]


class IdempotencyKeyTaken(Exception):
    """The owner created another document with this `Idempotency-Key` (the transaction is
    void)."""


def is_postgres(conn: AsyncConnection) -> bool:
    """Whether `conn` talks to PostgreSQL (else SQLite)."""
    return conn.dialect.name == "postgresql"

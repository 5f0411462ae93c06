"""Tables (SQLModel) of the doc store, and what a format means for its bytes.

The wire models live in `eco_shared.models.doc_store` (shared with the adapter).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from eco_shared.models.doc_store import MAX_TITLE_CHARS, DocumentFormat

MAX_SUBJECT_CHARS = 255


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which stores them naive) as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class DocStoreTable(SQLModel, registry=registry()):
    """Base of the doc store's tables: their own metadata, so Alembic sees only ours."""


class Document(DocStoreTable, table=True):
    """A document: its identity, which version is current, and whether it was deleted."""

    __tablename__ = "documents"
    __table_args__ = (
        # an Idempotency-Key is the caller's own: two principals may use the same one
        sa.UniqueConstraint("owner", "idempotency_key", name="uq_documents_owner_idempotency_key"),
        sa.Index("ix_documents_created_at_id", "created_at", "id"),
        sa.Index("ix_documents_owner_created_at_id", "owner", "created_at", "id"),
    )

    id: str = SQLField(primary_key=True, max_length=36)
    # the principal (token subject) the document belongs to
    owner: str = SQLField(max_length=MAX_SUBJECT_CHARS, nullable=False)
    idempotency_key: str | None = SQLField(default=None, max_length=255)
    request_sha256: str | None = SQLField(default=None, max_length=64)
    latest_version: int = SQLField(default=1)
    created_at: datetime = SQLField(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = SQLField(sa_type=UTCDateTime, nullable=False)
    deleted_at: datetime | None = SQLField(default=None, sa_type=UTCDateTime, nullable=True)


class DocumentVersion(DocStoreTable, table=True):
    """One immutable version of a document: what it is, its hash, and how it was made."""

    __tablename__ = "document_versions"
    __table_args__ = (
        sa.UniqueConstraint("document_id", "version", name="uq_document_versions_document_version"),
    )

    id: int | None = SQLField(default=None, primary_key=True)
    document_id: str = SQLField(foreign_key="documents.id", max_length=36, nullable=False)
    version: int = SQLField(nullable=False)
    title: str = SQLField(max_length=MAX_TITLE_CHARS, nullable=False)
    format: str = SQLField(max_length=16, nullable=False)
    sha256: str = SQLField(max_length=64, nullable=False)
    size_bytes: int = SQLField(nullable=False)
    meta: dict[str, Any] = SQLField(
        default_factory=dict, sa_column=sa.Column("metadata", JSONType, nullable=False)
    )
    provenance: dict[str, Any] | None = SQLField(
        default=None, sa_column=sa.Column("provenance", JSONType, nullable=True)
    )
    # who stored the version and the services that acted for them (from the token, not the
    # body); null for versions stored before 0004
    principal: str | None = SQLField(default=None, max_length=MAX_SUBJECT_CHARS, nullable=True)
    acting_chain: list[str] | None = SQLField(
        default=None, sa_column=sa.Column("acting_chain", JSONType, nullable=True)
    )
    created_at: datetime = SQLField(sa_type=UTCDateTime, nullable=False)


class DocumentContent(DocStoreTable, table=True):
    """The bytes of a version, apart from its row so listings never read them."""

    __tablename__ = "document_contents"

    version_id: int = SQLField(foreign_key="document_versions.id", primary_key=True)
    content: bytes = SQLField(sa_column=sa.Column("content", sa.LargeBinary, nullable=False))


MEDIA_TYPES: dict[DocumentFormat, str] = {
    DocumentFormat.markdown: "text/markdown; charset=utf-8",
    DocumentFormat.json: "application/json",
    DocumentFormat.txt: "text/plain; charset=utf-8",
    DocumentFormat.csv: "text/csv; charset=utf-8",
    DocumentFormat.html: "text/html; charset=utf-8",
    DocumentFormat.pdf: "application/pdf",
}
EXTENSIONS: dict[DocumentFormat, str] = {
    DocumentFormat.markdown: "md",
    DocumentFormat.json: "json",
    DocumentFormat.txt: "txt",
    DocumentFormat.csv: "csv",
    DocumentFormat.html: "html",
    DocumentFormat.pdf: "pdf",
}

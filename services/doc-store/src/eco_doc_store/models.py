"""Tables (SQLModel) and wire models (pydantic) of the doc store."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from eco_shared.provenance import ProvenanceRecord

MAX_TITLE_CHARS = 500
MAX_PAGE_SIZE = 100
# Deeper JSON than this in metadata or provenance is refused rather than walked.
MAX_JSON_DEPTH = 64


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
        sa.UniqueConstraint("idempotency_key", name="uq_documents_idempotency_key"),
        sa.Index("ix_documents_created_at_id", "created_at", "id"),
    )

    id: str = SQLField(primary_key=True, max_length=36)
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
    created_at: datetime = SQLField(sa_type=UTCDateTime, nullable=False)


class DocumentContent(DocStoreTable, table=True):
    """The bytes of a version, apart from its row so listings never read them."""

    __tablename__ = "document_contents"

    version_id: int = SQLField(foreign_key="document_versions.id", primary_key=True)
    content: bytes = SQLField(sa_column=sa.Column("content", sa.LargeBinary, nullable=False))


class DocumentFormat(StrEnum):
    """The formats the doc store keeps."""

    markdown = "markdown"
    json = "json"
    txt = "txt"
    csv = "csv"
    html = "html"
    pdf = "pdf"


class ContentEncoding(StrEnum):
    """How `content` is written in the request: plain UTF-8 text or base64 bytes."""

    utf8 = "utf-8"
    base64 = "base64"


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


def storable_text_problem(value: str) -> str | None:
    """Why a string cannot be stored on every backend (NUL, lone surrogates), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (lone surrogate)"
    return None


def check_storable_json(value: Any, where: str) -> None:
    """Refuse JSON that PostgreSQL or SQLite cannot keep as given (raise ValueError)."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"{where} is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, str):
            problem = storable_text_problem(node)
            if problem:
                raise ValueError(f"a string at {path} {problem}")
        elif isinstance(node, float) and not math.isfinite(node):
            raise ValueError(f"the number at {path} is not finite")
        elif isinstance(node, dict):
            for key, child in node.items():
                problem = storable_text_problem(str(key))
                if problem:
                    raise ValueError(f"a key in {path} {problem}")
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(node))


def _check_title(value: str | None) -> str | None:
    if value is None:
        return None
    if any(not ch.isprintable() for ch in value):
        raise ValueError("the title must not contain control characters")
    problem = storable_text_problem(value)
    if problem:
        raise ValueError(f"the title {problem}")
    if not value.strip():
        raise ValueError("the title must not be blank")
    return value


class ContentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(description="The content: UTF-8 text, or base64 with content_encoding.")
    content_encoding: ContentEncoding = ContentEncoding.utf8
    provenance: ProvenanceRecord | None = Field(
        default=None, description="How this version was made (DESIGN.md provenance record)."
    )

    @field_validator("provenance")
    @classmethod
    def _storable_provenance(cls, value: ProvenanceRecord | None) -> ProvenanceRecord | None:
        if value is not None:
            check_storable_json(value.model_dump(mode="json"), "provenance")
        return value


class DocumentCreate(ContentIn):
    """`POST /documents`: a new document with its first version."""

    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    format: DocumentFormat
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("title")
    @classmethod
    def _valid_title(cls, value: str) -> str:
        return _check_title(value) or value

    @field_validator("metadata")
    @classmethod
    def _storable_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_storable_json(value, "metadata")
        return value


class DocumentUpdate(ContentIn):
    """`PUT /documents/{id}`: a new version; omitted title, format and metadata carry over."""

    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE_CHARS)
    format: DocumentFormat | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("title")
    @classmethod
    def _valid_title(cls, value: str | None) -> str | None:
        return _check_title(value)

    @field_validator("metadata")
    @classmethod
    def _storable_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_storable_json(value, "metadata")
        return value


class VersionPublic(BaseModel):
    """One version of a document, without its content."""

    version: int
    title: str
    format: DocumentFormat
    sha256: str
    size_bytes: int
    created_at: datetime


class DocumentPublic(BaseModel):
    """A document as seen at one version (the latest unless asked otherwise)."""

    id: str
    title: str
    format: DocumentFormat
    version: int
    latest_version: int
    sha256: str
    size_bytes: int
    content_type: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version_created_at: datetime
    deleted_at: datetime | None = None
    download_url: str
    provenance_url: str


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a listing; `total` counts every match."""

    items: list[T]
    total: int
    page: int
    page_size: int

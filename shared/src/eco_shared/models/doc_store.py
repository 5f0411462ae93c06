"""Wire models of the doc store: what `/documents` takes and answers with.

The doc store validates its requests and builds its responses with these classes, and
`eco_shared.adapters.doc_store` reads responses back with them, so the two cannot drift.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eco_shared.provenance import ProvenanceRecord

MAX_TITLE_CHARS = 500
MAX_PAGE_SIZE = 100
# Deeper JSON than this in metadata or provenance is refused rather than walked.
MAX_JSON_DEPTH = 64

FormatName = Literal["markdown", "json", "txt", "csv", "html", "pdf"]
MatchMode = Literal["all", "any"]


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
    """The content part of a write: the bytes (as text or base64) and their provenance."""

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


class DocumentPage(BaseModel):
    """A page of search results; `total` counts every match."""

    items: list[DocumentPublic]
    total: int
    page: int
    page_size: int


class VersionPage(BaseModel):
    """A page of a document's versions, newest first; `total` counts them all."""

    items: list[VersionPublic]
    total: int
    page: int
    page_size: int

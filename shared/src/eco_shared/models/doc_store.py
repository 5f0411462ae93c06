"""Wire models of the doc store: what `/documents` takes and answers with.

The doc store validates its requests and builds its responses with these classes, and
`eco_shared.adapters.doc_store` reads responses back with them, so the two cannot drift.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic.config import JsonDict

from eco_shared.provenance import ProvenanceRecord

MAX_TITLE_CHARS = 500
MAX_PAGE_SIZE = 100
# Deeper JSON than this in metadata or provenance is refused rather than walked.
MAX_JSON_DEPTH = 64

FormatName = Literal["markdown", "json", "txt", "csv", "html", "pdf"]
MatchMode = Literal["all", "any"]
ContentOmitted = Literal["binary", "too_large", "not_requested"]

# The rules below are written as regular expressions so the OpenAPI document states them
# exactly (a request the schema allows is one the service accepts). Lone surrogates are
# refused too, but no JSON Schema pattern can name them (they are not Unicode text).
_NOT_TITLE = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
TITLE_PATTERN = rf"^[^{_NOT_TITLE}]*[^\s{_NOT_TITLE}][^{_NOT_TITLE}]*$"
# Strings inside metadata and provenance hold no NUL (PostgreSQL's JSONB cannot keep it).
STORABLE_TEXT_PATTERN = r"^[^\x00]*$"
# What a provenance record's `content_sha256` must look like (the content's own hash).
SHA256_PATTERN = r"^[0-9a-f]{64}$"
# Marks a string the storable-text rule does not apply to (content is stored as bytes).
ANY_TEXT = "x-eco-any-text"
_B64 = r"[A-Za-z0-9+/]\s*"
BASE64_PATTERN = rf"^\s*(?:(?:{_B64}){{4}})*(?:(?:{_B64}){{2}}=\s*=|(?:{_B64}){{3}}=)?\s*$"
RFC3339_PATTERN = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3])"
    r":[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
_RFC3339 = re.compile(RFC3339_PATTERN)
_TITLE = re.compile(TITLE_PATTERN)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a date-time needs a time zone offset (RFC 3339)")
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("not an RFC 3339 date-time with an offset, e.g. 2026-01-31T12:00:00Z")
    return value


# A point in time as RFC 3339 says it (with an offset), nothing looser.
RFC3339Datetime = Annotated[datetime, BeforeValidator(_rfc3339)]


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
    if _TITLE.fullmatch(value):
        return value
    problem = storable_text_problem(value)
    if problem:
        raise ValueError(f"the title {problem}")
    if not value.strip():
        raise ValueError("the title must not be blank")
    raise ValueError("the title must not contain control characters or line separators")


def _check_times(model: Any, raw: Any, path: str) -> None:
    """Every date-time of a validated model was written as RFC 3339 with an offset."""
    if isinstance(model, BaseModel) and isinstance(raw, dict):
        for name in type(model).model_fields:
            if name in raw:
                _check_times(getattr(model, name), raw[name], f"{path}.{name}")
    elif isinstance(model, list) and isinstance(raw, list):
        for i, (item, raw_item) in enumerate(zip(model, raw, strict=False)):
            _check_times(item, raw_item, f"{path}[{i}]")
    elif isinstance(model, datetime) and not (isinstance(raw, str) and _RFC3339.fullmatch(raw)):
        raise ValueError(f"{path} is not an RFC 3339 date-time with an offset")


def strict_provenance(raw: dict[str, Any]) -> ProvenanceRecord:
    """A record read as its JSON says it, no coercion: `"5"` is not a token count."""
    check_storable_json(raw, "provenance")
    try:
        record = ProvenanceRecord.model_validate_json(json.dumps(raw), strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"provenance.{where}: {first['msg']}") from None
    _check_times(record, raw, "provenance")
    claimed = record.content_sha256
    if claimed is not None and not re.fullmatch(SHA256_PATTERN, claimed):
        raise ValueError("provenance.content_sha256 is not a sha256 (64 lowercase hex digits)")
    return record


class ContentIn(BaseModel):
    """The content part of a write: the bytes (as text or base64) and their provenance."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(
        description="The content: UTF-8 text, or base64 with content_encoding (required for PDF).",
        json_schema_extra={ANY_TEXT: True},
    )
    content_encoding: ContentEncoding = ContentEncoding.utf8
    provenance: ProvenanceRecord | None = Field(
        default=None,
        description="How this version was made (DESIGN.md provenance record), read strictly:"
        " numbers are numbers, date-times RFC 3339 with an offset.",
    )
    user_id: str | None = Field(
        default=None,
        max_length=200,
        description="Whom the producer says the version is for: only a claim, never the owner"
        " (the token's principal is); the provenance record answers it as"
        " `user_context.claimed_user_id`.",
    )

    @field_validator("user_id")
    @classmethod
    def _storable_user_id(cls, value: str | None) -> str | None:
        problem = storable_text_problem(value) if value is not None else None
        if problem:
            raise ValueError(f"user_id {problem}")
        return value

    @field_validator("provenance", mode="before")
    @classmethod
    def _strict_provenance(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return strict_provenance(value)
        if isinstance(value, ProvenanceRecord):
            check_storable_json(value.model_dump(mode="json"), "provenance")
        return value


# What the code checks across fields, stated in the schema: PDF travels as base64, and
# base64 content is well-formed.
_CROSS_FIELD_RULES: JsonDict = {
    "allOf": [
        {
            "if": {"properties": {"format": {"const": "pdf"}}, "required": ["format"]},
            "then": {
                "properties": {"content_encoding": {"const": "base64"}},
                "required": ["content_encoding"],
            },
        },
        {
            "if": {
                "properties": {"content_encoding": {"const": "base64"}},
                "required": ["content_encoding"],
            },
            "then": {"properties": {"content": {"pattern": BASE64_PATTERN}}},
        },
    ]
}
_TITLE_SCHEMA: JsonDict = {"pattern": TITLE_PATTERN}


class DocumentCreate(ContentIn):
    """`POST /documents`: a new document with its first version."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_CROSS_FIELD_RULES)

    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS, json_schema_extra=_TITLE_SCHEMA)
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
    """`PUT /documents/{id}`: a new version; omitted title, format and metadata carry over.

    Text content for a document whose carried-over format is PDF is a 409: the request is
    well-formed, the stored document is what it conflicts with.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_CROSS_FIELD_RULES)

    title: (
        Annotated[
            str, Field(min_length=1, max_length=MAX_TITLE_CHARS, json_schema_extra=_TITLE_SCHEMA)
        ]
        | None
    ) = None
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
    principal: str | None = Field(
        default=None,
        description="Who stored this version (the token's subject); null for versions stored"
        " before the doc store recorded it.",
    )


class DocumentPublic(BaseModel):
    """A document as seen at one version (the latest unless asked otherwise).

    `owner` is the principal the document belongs to (the subject of the token that created
    it; for a service acting for a user, the user). `content` is the text of a text format
    up to the service's inline limit; otherwise it is null and `content_omitted` says why.
    `content_url` always fetches the bytes.
    """

    id: str
    owner: str = Field(description="The principal the document belongs to (`user:<id>`, ...).")
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
    content_url: str = Field(description="Absolute URL of this version's bytes (download).")
    content: str | None = Field(
        default=None, description="The text, for text formats up to the inline limit."
    )
    content_omitted: ContentOmitted | None = Field(
        default=None,
        description="Why `content` is null: `binary` (PDF), `too_large` (over the inline"
        " limit), `not_requested` (list items without `include=content`).",
    )


class DocumentPage(BaseModel):
    """A page of search results; `total` counts the matches exactly up to the store's count
    cap (`ECO_DOC_STORE_SEARCH_COUNT_CAP`, 1,000) or the end of the page asked for, and is
    that bound past it: a short page is the last. `next_cursor` (absent on the last page) is
    passed back as `cursor` for the next page."""

    items: list[DocumentPublic]
    total: int
    page: int
    page_size: int
    next_cursor: str | None = Field(
        default=None,
        description="Pass back as `cursor` for the next page; absent on the last page.",
    )


class VersionPage(BaseModel):
    """A page of a document's versions, newest first; `total` counts them all."""

    items: list[VersionPublic]
    total: int
    page: int
    page_size: int

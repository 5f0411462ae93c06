"""Checks on what a write sends: content size and encoding, claimed hashes, idempotency."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from eco_shared.models.doc_store import (
    ContentEncoding,
    ContentIn,
    DocumentCreate,
    DocumentFormat,
)
from eco_shared.problems import Conflict, TooLarge, ValidationProblem
from eco_shared.provenance import ProvenanceRecord


def _invalid_content(detail: str, msg: str) -> ValidationProblem:
    return ValidationProblem.field("body", "content", msg, detail=detail, title="Invalid content")


def decode_content(body: ContentIn, limit: int) -> bytes:
    """The bytes of a request's content, within `limit` (413) and well-formed (422)."""
    too_large = TooLarge(
        f"The content is larger than the limit of {limit} bytes.", limit_bytes=limit
    )
    if body.content_encoding is ContentEncoding.base64:
        compact = "".join(body.content.split())
        if len(compact) > 4 * -(-limit // 3):
            raise too_large
        try:
            content = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid_content("`content` is not valid base64.", "not valid base64") from None
    else:
        if len(body.content) > limit:  # every character is at least one byte
            raise too_large
        try:
            content = body.content.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid_content(
                "`content` is not valid Unicode text.", "not valid Unicode text"
            ) from None
    if len(content) > limit:
        raise too_large
    return content


def check_encoding(body: ContentIn, fmt: DocumentFormat) -> None:
    """PDF bytes only travel as base64 (422 otherwise)."""
    if fmt is DocumentFormat.pdf and body.content_encoding is not ContentEncoding.base64:
        raise ValidationProblem.field(
            "body",
            "content_encoding",
            "PDF content must be base64",
            detail="PDF content must be sent as base64 with content_encoding 'base64'.",
            title="Invalid content",
        )


def check_inherited_encoding(body: ContentIn, document_id: str) -> None:
    """Text content for a PDF document whose format carries over: 409 (the stored format)."""
    if body.content_encoding is not ContentEncoding.base64:
        raise Conflict(
            f"Document {document_id} is a PDF: a new version's content must be base64"
            " (content_encoding 'base64'), or name another format.",
            title="Content does not fit the document's format",
        )


def check_claimed_hash(record: ProvenanceRecord | None, sha256: str) -> None:
    """A provenance record that names another hash than the content's is refused (409).

    409, not 422: each part is well-formed on its own; they contradict each other.
    """
    if record is not None and record.content_sha256 not in (None, sha256):
        raise Conflict(
            f"provenance.content_sha256 is {record.content_sha256} but the content's"
            f" sha256 is {sha256}.",
            title="Provenance does not match the content",
            field="provenance.content_sha256",
        )


def provenance_dict(record: ProvenanceRecord | None) -> dict[str, Any] | None:
    """The record as stored: only what the producer said (unset fields stay unknown)."""
    return None if record is None else record.model_dump(mode="json", exclude_unset=True)


def stored_provenance(body: ContentIn) -> dict[str, Any] | None:
    """The record to store, with a body's `user_id` kept as the claim it is (the record's
    own `user_context.user_id`, when it names one, wins)."""
    record = provenance_dict(body.provenance)
    if body.user_id is None:
        return record
    record = dict(record or {})
    user = dict(record.get("user_context") or {})
    user.setdefault("user_id", body.user_id)
    record["user_context"] = user
    return record


def request_fingerprint(body: DocumentCreate, sha256: str) -> str:
    """What makes two creates under one `Idempotency-Key` the same request."""
    parts: list[Any] = [
        body.title,
        body.format.value,
        sha256,
        body.metadata,
        provenance_dict(body.provenance),
    ]
    if body.user_id is not None:  # appended only when sent: older fingerprints still match
        parts.append(body.user_id)
    return hashlib.sha256(
        json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()

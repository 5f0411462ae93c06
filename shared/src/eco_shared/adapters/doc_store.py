"""Typed client of the doc store (documents, versions, provenance, search, downloads)."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel

from eco_shared.adapters._base import BaseServiceAdapter, operation
from eco_shared.models.doc_store import (
    ContentOmitted,
    DocumentFormat,
    DocumentPage,
    DocumentPublic,
    FormatName,
    MatchMode,
    VersionPage,
    VersionPublic,
)
from eco_shared.provenance import ProvenanceRecord

_FILENAME_STAR = re.compile(r"filename\*=UTF-8''([^;]+)", re.IGNORECASE)
_FILENAME = re.compile(r'filename="([^"]*)"', re.IGNORECASE)

# The names this adapter has always answered with.
Document = DocumentPublic
DocumentVersion = VersionPublic

__all__ = [
    "ContentOmitted",
    "DocStoreAdapter",
    "Document",
    "DocumentFormat",
    "DocumentPage",
    "DocumentPublic",
    "DocumentVersion",
    "Download",
    "FormatName",
    "MatchMode",
    "VersionPage",
    "VersionPublic",
]


class Download(BaseModel):
    """The bytes of a document version with what the response said about them."""

    content: bytes
    content_type: str
    filename: str | None
    sha256: str | None
    version: int | None


def _content_fields(content: str | bytes) -> dict[str, str]:
    if isinstance(content, bytes):
        return {"content": base64.b64encode(content).decode(), "content_encoding": "base64"}
    return {"content": content, "content_encoding": "utf-8"}


def _provenance(record: ProvenanceRecord | dict[str, Any] | None) -> dict[str, Any] | None:
    if isinstance(record, ProvenanceRecord):
        return record.model_dump(mode="json", exclude_unset=True)
    return record


def _filename(disposition: str) -> str | None:
    star = _FILENAME_STAR.search(disposition)
    if star:
        return unquote(star.group(1).strip())
    plain = _FILENAME.search(disposition)
    return plain.group(1) if plain else None


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class DocStoreAdapter(BaseServiceAdapter):
    """The doc store's operations; bytes content goes as base64, text as UTF-8.

    Calls carry a token for `doc-store` from the client's `tokens` (reads need `docs:read`,
    writes `docs:write`); what is stored belongs to the token's principal. Every error is an
    `AdapterError` carrying the service's problem+json (`status`, `problem["detail"]`): 401
    without a valid token, 403 without the scope, 404 for an unknown or deleted document, or
    another principal's (`problem["deleted_at"]` says when it was deleted), 409 for a
    reused `Idempotency-Key` or text sent to a PDF, 413 over the content limit, 422 for
    invalid input (`problem["errors"]`).
    """

    service_name = "doc-store"

    @operation("POST", "/documents", body=True, response=DocumentPublic)
    async def create_document(
        self,
        title: str,
        format: FormatName,
        content: str | bytes,
        *,
        metadata: dict[str, Any] | None = None,
        provenance: ProvenanceRecord | dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        user_id: str | None = None,
    ) -> DocumentPublic:
        """Store a new document (the token's principal's; `user_id` is only a claim); retried
        safely under an Idempotency-Key (made if not given)."""
        body: dict[str, Any] = {
            "title": title,
            "format": format,
            **_content_fields(content),
            "metadata": metadata or {},
            **_params(user_id=user_id),
        }
        record = _provenance(provenance)
        if record is not None:
            body["provenance"] = record
        response = await self._request(
            "POST",
            "/documents",
            operation="create_document",
            json=body,
            headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex},
        )
        return DocumentPublic.model_validate(response.json())

    @operation("PUT", "/documents/{document_id}", body=True, response=DocumentPublic)
    async def add_version(
        self,
        document_id: str,
        content: str | bytes,
        *,
        title: str | None = None,
        format: FormatName | None = None,
        metadata: dict[str, Any] | None = None,
        provenance: ProvenanceRecord | dict[str, Any] | None = None,
        user_id: str | None = None,
    ) -> DocumentPublic:
        """Store a new version; omitted title, format and metadata carry over."""
        body: dict[str, Any] = {
            **_content_fields(content),
            **_params(title=title, format=format, metadata=metadata, user_id=user_id),
        }
        record = _provenance(provenance)
        if record is not None:
            body["provenance"] = record
        response = await self._request(
            "PUT",
            "/documents/{document_id}",
            operation="add_version",
            path_params={"document_id": document_id},
            json=body,
        )
        return DocumentPublic.model_validate(response.json())

    @operation("GET", "/documents/{document_id}", query=("version",), response=DocumentPublic)
    async def get_document(self, document_id: str, version: int | None = None) -> DocumentPublic:
        """A document at `version` (the latest by default), with its text when it fits."""
        response = await self._request(
            "GET",
            "/documents/{document_id}",
            operation="get_document",
            path_params={"document_id": document_id},
            params=_params(version=version),
        )
        return DocumentPublic.model_validate(response.json())

    @operation(
        "GET",
        "/documents/{document_id}/versions",
        query=("page", "page_size"),
        response=VersionPage,
    )
    async def list_versions(
        self, document_id: str, page: int = 1, page_size: int = 20
    ) -> VersionPage:
        """A page of a document's versions, newest first."""
        response = await self._request(
            "GET",
            "/documents/{document_id}/versions",
            operation="list_versions",
            path_params={"document_id": document_id},
            params={"page": page, "page_size": page_size},
        )
        return VersionPage.model_validate(response.json())

    @operation("GET", "/documents/{document_id}/download", query=("version",))
    async def download(self, document_id: str, version: int | None = None) -> Download:
        """The bytes of a version, with content type and file name."""
        return await self._download(document_id, "download", version=version)

    @operation("GET", "/documents/{document_id}/download", query=("version", "format"))
    async def download_bundle(self, document_id: str, version: int | None = None) -> Download:
        """An RO-Crate ZIP of a version: the document, its provenance, PROV-JSON and trace."""
        return await self._download(document_id, "download_bundle", version=version, format="zip")

    async def _download(self, document_id: str, operation: str, **params: Any) -> Download:
        response = await self._request(
            "GET",
            "/documents/{document_id}/download",
            operation=operation,
            path_params={"document_id": document_id},
            params=_params(**params),
        )
        etag = response.headers.get("etag")
        number = response.headers.get("x-document-version")
        return Download(
            content=response.content,
            content_type=response.headers.get("content-type", "application/octet-stream"),
            filename=_filename(response.headers.get("content-disposition", "")),
            sha256=etag.strip('"') if etag else None,
            version=int(number) if number and number.isdigit() else None,
        )

    @operation(
        "GET",
        "/documents/{document_id}/provenance",
        query=("version", "format"),
        response=ProvenanceRecord,
    )
    async def get_provenance(
        self, document_id: str, version: int | None = None
    ) -> ProvenanceRecord:
        """The provenance record stored with a version."""
        response = await self._request(
            "GET",
            "/documents/{document_id}/provenance",
            operation="get_provenance",
            path_params={"document_id": document_id},
            params=_params(version=version),
        )
        return ProvenanceRecord.model_validate(response.json())

    # PROV-JSON is free-form: the adapter reads any object the route returns
    @operation(
        "GET",
        "/documents/{document_id}/provenance",
        query=("version", "format"),
        response=dict[str, Any],
    )
    async def get_prov_json(self, document_id: str, version: int | None = None) -> dict[str, Any]:
        """W3C PROV-JSON of versions 1..`version` of a document."""
        response = await self._request(
            "GET",
            "/documents/{document_id}/provenance",
            operation="get_prov_json",
            path_params={"document_id": document_id},
            params=_params(version=version, format="prov-json"),
        )
        body: dict[str, Any] = response.json()
        return body

    @operation(
        "GET",
        "/documents",
        query=(
            "q",
            "match",
            "format",
            "created_after",
            "include",
            "owner",
            "page",
            "page_size",
            "cursor",
        ),
        response=DocumentPage,
    )
    async def search_documents(
        self,
        q: str | None = None,
        *,
        match: MatchMode | None = None,
        format: FormatName | None = None,
        created_after: datetime | None = None,
        include_content: bool = False,
        owner: str | None = None,
        page: int = 1,
        page_size: int = 20,
        cursor: str | None = None,
    ) -> DocumentPage:
        """Live documents of the caller's (every one's with `docs:read:all`) matching `q`,
        newest first.

        `cursor`: an earlier page's `next_cursor`, for the page after it (`page` unread).
        `match="any"`: documents with at least one of the terms, most terms matched first.
        `include_content`: items carry their text too (lists leave it out by default).
        `owner`: only that principal's documents (for a caller with `docs:read:all`).
        """
        response = await self._request(
            "GET",
            "/documents",
            operation="search_documents",
            params=_params(
                q=q,
                match=match,
                format=format,
                created_after=created_after.isoformat() if created_after else None,
                include="content" if include_content else None,
                owner=owner,
                page=None if cursor else page,
                page_size=page_size,
                cursor=cursor,
            ),
        )
        return DocumentPage.model_validate(response.json())

    @operation("DELETE", "/documents/{document_id}")
    async def delete_document(self, document_id: str) -> None:
        """Soft-delete a document (kept for audit)."""
        await self._request(
            "DELETE",
            "/documents/{document_id}",
            operation="delete_document",
            path_params={"document_id": document_id},
        )

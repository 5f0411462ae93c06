"""The doc store's logic: validate, write in one transaction, then announce on the bus."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_doc_store import repository as repo
from eco_doc_store.models import (
    MEDIA_TYPES,
    ContentEncoding,
    ContentIn,
    DocumentCreate,
    DocumentFormat,
    DocumentPublic,
    DocumentUpdate,
    Page,
    VersionPublic,
)
from eco_doc_store.provjson import VersionFacts, prov_json
from eco_doc_store.search import fold, fts5_match, indexable_text, query_terms, websearch_text
from eco_doc_store.settings import DocStoreSettings
from eco_shared.bus import EventBus
from eco_shared.problems import ProblemError
from eco_shared.provenance import ProvenanceRecord

log = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _provenance_dict(record: ProvenanceRecord | None) -> dict[str, Any] | None:
    # Only what the producer said: unset fields stay absent (unknown), not default-filled.
    return None if record is None else record.model_dump(mode="json", exclude_unset=True)


def _view(row: Any) -> DocumentPublic:
    fmt = DocumentFormat(row["format"])
    base = f"/documents/{row['id']}"
    return DocumentPublic(
        id=row["id"],
        title=row["title"],
        format=fmt,
        version=row["version"],
        latest_version=row["latest_version"],
        sha256=row["sha256"],
        size_bytes=row["size_bytes"],
        content_type=MEDIA_TYPES[fmt],
        metadata=row["metadata"] or {},
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version_created_at=row["version_created_at"],
        deleted_at=row["deleted_at"],
        download_url=f"{base}/download?version={row['version']}",
        provenance_url=f"{base}/provenance?version={row['version']}",
    )


class DocumentService:
    """Documents, versions, provenance and search over one database."""

    def __init__(self, engine: AsyncEngine, bus: EventBus, settings: DocStoreSettings) -> None:
        self.engine = engine
        self.bus = bus
        self.settings = settings

    def decode_content(self, body: ContentIn) -> bytes:
        """The bytes of a request's content, within the size limit (413) and well-formed."""
        limit = self.settings.max_content_bytes
        too_large = ProblemError(
            413,
            f"The content is larger than the limit of {limit} bytes.",
            title="Content Too Large",
            limit_bytes=limit,
        )
        if body.content_encoding is ContentEncoding.base64:
            compact = "".join(body.content.split())
            if len(compact) > 4 * -(-limit // 3):
                raise too_large
            try:
                content = base64.b64decode(compact, validate=True)
            except (binascii.Error, ValueError):
                raise ProblemError(
                    422, "`content` is not valid base64.", title="Invalid content"
                ) from None
        else:
            if len(body.content) > limit:  # every character is at least one byte
                raise too_large
            try:
                content = body.content.encode("utf-8")
            except UnicodeEncodeError:
                raise ProblemError(
                    422, "`content` is not valid Unicode text.", title="Invalid content"
                ) from None
        if len(content) > limit:
            raise too_large
        return content

    @staticmethod
    def _check_encoding(body: ContentIn, fmt: DocumentFormat) -> None:
        if fmt is DocumentFormat.pdf and body.content_encoding is not ContentEncoding.base64:
            raise ProblemError(
                422,
                "PDF content must be sent as base64 with content_encoding 'base64'.",
                title="Invalid content",
            )

    @staticmethod
    def _check_claimed_hash(record: ProvenanceRecord | None, sha256: str) -> None:
        if record is not None and record.content_sha256 not in (None, sha256):
            raise ProblemError(
                422,
                f"provenance.content_sha256 is {record.content_sha256} but the content's"
                f" sha256 is {sha256}.",
                title="Provenance does not match the content",
            )

    async def create(
        self, body: DocumentCreate, idempotency_key: str | None
    ) -> tuple[DocumentPublic, bool]:
        """Store a new document; a known `idempotency_key` returns the first result instead."""
        self._check_encoding(body, body.format)
        content = self.decode_content(body)
        sha256 = hashlib.sha256(content).hexdigest()
        self._check_claimed_hash(body.provenance, sha256)
        provenance = _provenance_dict(body.provenance)
        fingerprint = None
        if idempotency_key is not None:
            fingerprint = hashlib.sha256(
                json.dumps(
                    [body.title, body.format.value, sha256, body.metadata, provenance],
                    sort_keys=True,
                    separators=(",", ":"),
                ).encode()
            ).hexdigest()
            replay = await self._replay(idempotency_key, fingerprint)
            if replay is not None:
                return replay, False
        document_id = str(uuid.uuid4())
        now = _now()
        new = repo.NewVersion(
            document_id=document_id,
            version=1,
            title=body.title,
            format=body.format.value,
            sha256=sha256,
            size_bytes=len(content),
            metadata=body.metadata,
            provenance=provenance,
            created_at=now,
            content=content,
        )
        search_body = indexable_text(content, body.format, self.settings.search_max_chars)
        try:
            async with self.engine.begin() as conn:
                await repo.insert_document(
                    conn,
                    document_id=document_id,
                    idempotency_key=idempotency_key,
                    request_sha256=fingerprint,
                    now=now,
                )
                version_id = await repo.insert_version(conn, new)
                await repo.index_version(
                    conn,
                    document_id=document_id,
                    old_version_id=None,
                    version_id=version_id,
                    title=fold(body.title),
                    body=search_body,
                )
        except sa.exc.IntegrityError:
            # Another request with the same key won the race; answer with its document.
            if idempotency_key is None or fingerprint is None:
                raise
            replay = await self._replay(idempotency_key, fingerprint)
            if replay is None:
                raise
            return replay, False
        view = self._new_view(new, latest_version=1, created_at=now, updated_at=now)
        log.info("document_stored", document_id=document_id, version=1, size_bytes=len(content))
        await self._publish("document.stored", view, body.provenance)
        return view, True

    async def _replay(self, key: str, fingerprint: str) -> DocumentPublic | None:
        async with self.engine.connect() as conn:
            existing = await repo.find_by_idempotency_key(conn, key)
            if existing is None:
                return None
            if existing.request_sha256 != fingerprint:
                raise ProblemError(
                    409,
                    "This Idempotency-Key was already used for a different request.",
                    title="Idempotency-Key reused",
                    document_id=existing.id,
                )
            row = await repo.get_view(conn, existing.id, 1)
        assert row is not None
        log.info("document_create_replayed", document_id=existing.id)
        return _view(row)

    @staticmethod
    def _new_view(
        new: repo.NewVersion, *, latest_version: int, created_at: datetime, updated_at: datetime
    ) -> DocumentPublic:
        return _view(
            {
                "id": new.document_id,
                "title": new.title,
                "format": new.format,
                "version": new.version,
                "latest_version": latest_version,
                "sha256": new.sha256,
                "size_bytes": new.size_bytes,
                "metadata": new.metadata,
                "created_at": created_at,
                "updated_at": updated_at,
                "version_created_at": new.created_at,
                "deleted_at": None,
            }
        )

    async def _missing_or_gone(self, conn: Any, document_id: str) -> ProblemError:
        doc = await repo.get_document(conn, document_id)
        if doc is None:
            return ProblemError(
                404, f"No document with id {document_id}.", title="Document not found"
            )
        return ProblemError(
            410,
            f"Document {document_id} was deleted at {doc.deleted_at}.",
            title="Document deleted",
            deleted_at=doc.deleted_at,
        )

    async def add_version(self, document_id: str, body: DocumentUpdate) -> DocumentPublic:
        """Store a new version; title, format and metadata carry over when omitted."""
        content = self.decode_content(body)
        sha256 = hashlib.sha256(content).hexdigest()
        self._check_claimed_hash(body.provenance, sha256)
        now = _now()
        async with self.engine.begin() as conn:
            claimed = await repo.claim_next_version(conn, document_id, now)
            if claimed is None:
                raise await self._missing_or_gone(conn, document_id)
            version, created_at = claimed
            previous = await repo.get_version_row(conn, document_id, version - 1)
            assert previous is not None
            fmt = body.format or DocumentFormat(previous["format"])
            self._check_encoding(body, fmt)
            new = repo.NewVersion(
                document_id=document_id,
                version=version,
                title=body.title or previous["title"],
                format=fmt.value,
                sha256=sha256,
                size_bytes=len(content),
                metadata=body.metadata if body.metadata is not None else previous["metadata"],
                provenance=_provenance_dict(body.provenance),
                created_at=now,
                content=content,
            )
            version_id = await repo.insert_version(conn, new)
            await repo.index_version(
                conn,
                document_id=document_id,
                old_version_id=previous["id"],
                version_id=version_id,
                title=fold(new.title),
                body=indexable_text(content, fmt, self.settings.search_max_chars),
            )
        view = self._new_view(new, latest_version=version, created_at=created_at, updated_at=now)
        log.info("document_versioned", document_id=document_id, version=version)
        await self._publish("document.versioned", view, body.provenance)
        return view

    async def get(self, document_id: str, version: int | None) -> DocumentPublic:
        """A live document at `version` (latest by default)."""
        async with self.engine.connect() as conn:
            row = await self._view_row(conn, document_id, version)
        if row["deleted_at"] is not None:
            raise ProblemError(
                410,
                f"Document {document_id} was deleted at {row['deleted_at'].isoformat()}.",
                title="Document deleted",
                deleted_at=row["deleted_at"],
            )
        return _view(row)

    async def _view_row(self, conn: Any, document_id: str, version: int | None) -> Any:
        row = await repo.get_view(conn, document_id, version)
        if row is not None:
            return row
        doc = await repo.get_document(conn, document_id)
        if doc is None:
            raise ProblemError(
                404, f"No document with id {document_id}.", title="Document not found"
            )
        raise ProblemError(
            404,
            f"Document {document_id} has no version {version} (the latest is"
            f" {doc.latest_version}).",
            title="Version not found",
            latest_version=doc.latest_version,
        )

    async def download(self, document_id: str, version: int | None) -> tuple[DocumentPublic, bytes]:
        """The document's view and its bytes at `version`."""
        async with self.engine.connect() as conn:
            row = await self._view_row(conn, document_id, version)
            if row["deleted_at"] is not None:
                raise ProblemError(
                    410, f"Document {document_id} was deleted.", title="Document deleted"
                )
            content = await repo.get_content(conn, row["version_id"])
        return _view(row), content

    async def list_versions(
        self, document_id: str, page: int, page_size: int
    ) -> Page[VersionPublic]:
        """A page of a document's versions, newest first (deleted documents too: audit)."""
        async with self.engine.connect() as conn:
            if await repo.get_document(conn, document_id) is None:
                raise ProblemError(
                    404, f"No document with id {document_id}.", title="Document not found"
                )
            rows, total = await repo.list_versions(
                conn, document_id, offset=(page - 1) * page_size, limit=page_size
            )
        self._check_page(page, page_size, total)
        return Page[VersionPublic](
            items=[VersionPublic.model_validate(dict(r)) for r in rows],
            total=total,
            page=page,
            page_size=page_size,
        )

    async def _provenance_rows(self, document_id: str, version: int | None) -> list[Any]:
        async with self.engine.connect() as conn:
            row = await self._view_row(conn, document_id, version)
            return await repo.versions_up_to(conn, document_id, row["version"])

    async def provenance(self, document_id: str, version: int | None) -> ProvenanceRecord:
        """The stored provenance record of a version (empty when none was given)."""
        rows = await self._provenance_rows(document_id, version)
        return ProvenanceRecord.model_validate(rows[-1]["provenance"] or {})

    async def provenance_prov_json(self, document_id: str, version: int | None) -> str:
        """W3C PROV-JSON of versions 1..`version` of a document."""
        rows = await self._provenance_rows(document_id, version)
        facts = [
            VersionFacts(
                version=r["version"],
                title=r["title"],
                format=r["format"],
                sha256=r["sha256"],
                size_bytes=r["size_bytes"],
                created_at=r["created_at"],
                provenance=(
                    ProvenanceRecord.model_validate(r["provenance"])
                    if r["provenance"] is not None
                    else None
                ),
            )
            for r in rows
        ]
        return prov_json(document_id, facts)

    @staticmethod
    def _check_page(page: int, page_size: int, total: int) -> None:
        if page > 1 and (page - 1) * page_size >= total:
            last = max(1, -(-total // page_size))
            raise ProblemError(
                404,
                f"Page {page} is past the end: {total} items make {last} page(s) of {page_size}.",
                title="Page not found",
                total=total,
                last_page=last,
            )

    async def search(
        self,
        *,
        q: str | None,
        format: DocumentFormat | None,
        created_after: datetime | None,
        page: int,
        page_size: int,
    ) -> Page[DocumentPublic]:
        """Live documents matching `q` (words and "phrases", all required), newest first."""
        match: str | None = None
        if q is not None and q.strip():
            terms = query_terms(q)
            if not terms:  # nothing searchable (only punctuation): nothing matches
                self._check_page(page, page_size, 0)
                return Page[DocumentPublic](items=[], total=0, page=page, page_size=page_size)
            postgres = self.engine.dialect.name == "postgresql"
            match = websearch_text(terms) if postgres else fts5_match(terms)
        if created_after is not None and created_after.tzinfo is None:
            created_after = created_after.replace(tzinfo=UTC)
        async with self.engine.connect() as conn:
            rows, total = await repo.search(
                conn,
                match=match,
                format=format.value if format else None,
                created_after=created_after,
                offset=(page - 1) * page_size,
                limit=page_size,
            )
        self._check_page(page, page_size, total)
        return Page[DocumentPublic](
            items=[_view(r) for r in rows], total=total, page=page, page_size=page_size
        )

    async def delete(self, document_id: str) -> None:
        """Soft-delete: gone from search and downloads, kept for audit; repeat is a no-op."""
        now = _now()
        async with self.engine.begin() as conn:
            latest = await repo.mark_deleted(conn, document_id, now)
            if latest is None:
                error = await self._missing_or_gone(conn, document_id)
                if error.status == 404:
                    raise error
                return
            row = await repo.get_version_row(conn, document_id, latest)
            assert row is not None
            await repo.unindex_document(conn, document_id, row["id"])
        log.info("document_deleted", document_id=document_id)
        await self._emit(
            "document.deleted", {"document_id": document_id, "deleted_at": now.isoformat()}
        )

    async def _publish(
        self, type_: str, view: DocumentPublic, record: ProvenanceRecord | None
    ) -> None:
        run = record.workflow_execution if record else None
        await self._emit(
            type_,
            {
                "document_id": view.id,
                "version": view.version,
                "title": view.title,
                "format": view.format.value,
                "sha256": view.sha256,
                "size_bytes": view.size_bytes,
                "execution_id": run.execution_id if run else None,
                "trace_id": record.trace_id if record else None,
            },
        )

    async def _emit(self, type_: str, data: dict[str, Any]) -> None:
        # The write has committed; a bus outage must not turn it into an error reply.
        try:
            await self.bus.publish(type_, data)
        except Exception as exc:  # noqa: BLE001
            log.error("event_publish_failed", event_type=type_, error=str(exc), **data)

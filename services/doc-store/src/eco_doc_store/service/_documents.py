"""Documents and their versions: create, add a version, read, download, list, delete."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from eco_doc_store import repository as repo
from eco_doc_store.search import IndexEntry, indexable
from eco_doc_store.service._base import (
    ServiceBase,
    check_page,
    log,
    new_view,
    now,
    view,
    wants_content,
    writable_owner,
)
from eco_doc_store.service._batch import PendingCreate
from eco_doc_store.service._content import (
    check_claimed_hash,
    check_encoding,
    check_inherited_encoding,
    decode_content,
    request_fingerprint,
    stored_provenance,
)
from eco_doc_store.service._outbox import deleted_audit, deleted_event, document_event
from eco_shared.auth import Principal
from eco_shared.models.doc_store import (
    DocumentCreate,
    DocumentFormat,
    DocumentPublic,
    DocumentUpdate,
    VersionPage,
    VersionPublic,
)
from eco_shared.problems import Conflict


class DocumentOps(ServiceBase):
    """Validate, then write in one transaction with the event that announces it (outbox)."""

    async def create(
        self,
        caller: Principal,
        body: DocumentCreate,
        idempotency_key: str | None,
        base_url: str,
    ) -> tuple[DocumentPublic, bool]:
        """Store a new document of the caller's; a key the caller used returns the first
        result instead."""
        owner = caller.owner
        check_encoding(body, body.format)
        content = decode_content(body, self.settings.max_content_bytes)
        sha256 = hashlib.sha256(content).hexdigest()
        check_claimed_hash(body.provenance, sha256)
        fingerprint = None
        if idempotency_key is not None:
            fingerprint = request_fingerprint(body, sha256)
            replay = await self._replay(owner, idempotency_key, fingerprint, base_url)
            if replay is not None:
                return replay, False
        document_id = str(uuid.uuid4())
        created = now()
        new = repo.NewVersion(
            document_id=document_id,
            version=1,
            title=body.title,
            format=body.format.value,
            sha256=sha256,
            size_bytes=len(content),
            metadata=body.metadata,
            provenance=stored_provenance(body),
            created_at=created,
            content=content,
            principal=caller.subject,
            acting_chain=caller.acting_chain(),
        )
        pending = PendingCreate(
            document=repo.NewDocument(
                document_id=document_id,
                owner=owner,
                idempotency_key=idempotency_key,
                request_sha256=fingerprint,
                now=created,
            ),
            version=new,
            text=indexable(content, body.format, body.title, self.settings.search_max_chars),
            event=document_event(new, body.provenance, owner),
        )
        try:
            await self.creates.create(pending)
        except repo.IdempotencyKeyTaken:
            # Another request with the same key won the race; answer with its document.
            if idempotency_key is None or fingerprint is None:
                raise
            replay = await self._replay(owner, idempotency_key, fingerprint, base_url)
            if replay is None:
                raise
            return replay, False
        document = new_view(
            new,
            base_url,
            owner=owner,
            latest_version=1,
            created_at=created,
            updated_at=created,
            limit=self.settings.inline_content_max_bytes,
        )
        log.info(
            "document_stored",
            document_id=document_id,
            version=1,
            size_bytes=len(content),
            owner=owner,
        )
        return document, True

    async def _replay(
        self, owner: str, key: str, fingerprint: str, base_url: str
    ) -> DocumentPublic | None:
        async with self.engine.connect() as conn:
            existing = await repo.find_by_idempotency_key(conn, owner, key)
            if existing is None:
                return None
            if existing.request_sha256 != fingerprint:
                raise Conflict(
                    "This Idempotency-Key was already used for a different request.",
                    title="Idempotency-Key reused",
                    document_id=existing.id,
                )
            if existing.deleted_at is not None:
                # Replaying would announce a created document that is gone.
                raise Conflict(
                    f"This Idempotency-Key created document {existing.id}, which was deleted"
                    f" at {existing.deleted_at.isoformat()}.",
                    title="Idempotency-Key names a deleted document",
                    document_id=existing.id,
                    deleted_at=existing.deleted_at,
                )
            row = await repo.get_view(conn, existing.id, 1)
            assert row is not None
            content = await self._inline_bytes(conn, row)
        log.info("document_create_replayed", document_id=existing.id)
        return view(row, base_url, content=content, limit=self.settings.inline_content_max_bytes)

    async def _inline_bytes(self, conn: AsyncConnection, row: Any) -> bytes | None:
        if not wants_content(row, self.settings.inline_content_max_bytes):
            return None
        return await repo.get_content(conn, row["version_id"])

    async def add_version(
        self, caller: Principal, document_id: str, body: DocumentUpdate, base_url: str
    ) -> DocumentPublic:
        """Store a new version of a document the caller may change; title, format and
        metadata carry over when omitted."""
        content = decode_content(body, self.settings.max_content_bytes)
        sha256 = hashlib.sha256(content).hexdigest()
        check_claimed_hash(body.provenance, sha256)
        created = now()
        async with self.writing() as conn:
            claimed = await repo.claim_next_version(
                conn, document_id, created, writable_owner(caller)
            )
            if claimed is None:
                raise await self._unwritable(conn, caller, document_id)
            version, document_created_at, owner = claimed
            previous = await repo.get_version_row(conn, document_id, version - 1)
            assert previous is not None
            fmt = body.format or DocumentFormat(previous["format"])
            if body.format is None and fmt is DocumentFormat.pdf:
                check_inherited_encoding(body, document_id)
            check_encoding(body, fmt)
            new = repo.NewVersion(
                document_id=document_id,
                version=version,
                title=body.title or previous["title"],
                format=fmt.value,
                sha256=sha256,
                size_bytes=len(content),
                metadata=body.metadata if body.metadata is not None else previous["metadata"],
                provenance=stored_provenance(body),
                created_at=created,
                content=content,
                principal=caller.subject,
                acting_chain=caller.acting_chain(),
            )
            [version_id] = await repo.insert_versions(conn, [new])
            entry = IndexEntry(
                document_id=document_id,
                search_id=await repo.first_version_id(conn, document_id),
                version_id=version_id,
                owner=owner,
                created_at=document_created_at,
                text=indexable(content, fmt, new.title, self.settings.search_max_chars),
            )
            await repo.reindex_document(conn, entry)
            await self.outbox.stage(
                conn, "document.versioned", document_event(new, body.provenance, owner)
            )
        document = new_view(
            new,
            base_url,
            owner=owner,
            latest_version=version,
            created_at=document_created_at,
            updated_at=created,
            limit=self.settings.inline_content_max_bytes,
        )
        log.info("document_versioned", document_id=document_id, version=version)
        return document

    async def get(
        self, caller: Principal, document_id: str, version: int | None, base_url: str
    ) -> DocumentPublic:
        """A live document at `version` (latest by default), with its text when it fits."""
        async with self.engine.connect() as conn:
            row = await self._view_row(conn, caller, document_id, version)
            content = await self._inline_bytes(conn, row)
        return view(row, base_url, content=content, limit=self.settings.inline_content_max_bytes)

    async def download(
        self, caller: Principal, document_id: str, version: int | None, base_url: str
    ) -> tuple[DocumentPublic, bytes]:
        """The document's view and its bytes at `version`."""
        async with self.engine.connect() as conn:
            row = await self._view_row(conn, caller, document_id, version)
            content = await repo.get_content(conn, row["version_id"])
        return view(row, base_url), content

    async def list_versions(
        self, caller: Principal, document_id: str, page: int, page_size: int
    ) -> VersionPage:
        """A page of a document's versions, newest first (404 once the document is deleted)."""
        async with self.engine.connect() as conn:
            await self._view_row(conn, caller, document_id, None)
            rows, total = await repo.list_versions(
                conn, document_id, offset=(page - 1) * page_size, limit=page_size
            )
        check_page(page, page_size, total)
        return VersionPage(
            items=[VersionPublic.model_validate(dict(r)) for r in rows],
            total=total,
            page=page,
            page_size=page_size,
        )

    async def delete(self, caller: Principal, document_id: str) -> None:
        """Soft-delete: gone from search and downloads, kept for audit; repeat is a no-op.

        The deletion is announced on `eco.events` and recorded on `eco.audit` (whose
        document, deleted by whom), both staged in the deleting transaction.
        """
        deleted_at = now()
        owner_filter = writable_owner(caller)
        async with self.writing() as conn:
            deleted = await repo.mark_deleted(conn, document_id, deleted_at, owner_filter)
            if deleted is None:
                doc = await repo.get_document(conn, document_id, owner_filter)
                if doc is None or doc.deleted_at is None:
                    raise await self._unwritable(conn, caller, document_id)
                return  # deleted before: nothing more to do
            _, owner = deleted
            search_id = await repo.first_version_id(conn, document_id)
            await repo.unindex_document(conn, document_id, search_id)
            await self.outbox.stage(
                conn, "document.deleted", deleted_event(document_id, owner, deleted_at)
            )
            await self.audit.stage(
                conn, "document.deleted", deleted_audit(document_id, owner, caller, deleted_at)
            )
        self.audit.notify()
        log.info("document_deleted", document_id=document_id, owner=owner, by=caller.subject)

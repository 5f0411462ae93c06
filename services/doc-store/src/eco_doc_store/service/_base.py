"""What every part of the doc-store service shares: resources, views, errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eco_doc_store import repository as repo
from eco_doc_store.models import MEDIA_TYPES
from eco_doc_store.service._batch import CreateBatcher
from eco_doc_store.settings import DocStoreSettings
from eco_shared.auth import ADMIN, InsufficientScope, Principal
from eco_shared.models.doc_store import ContentOmitted, DocumentFormat, DocumentPublic
from eco_shared.outbox import OutboxRelay
from eco_shared.problems import NotFound, ProblemError

log = structlog.get_logger("eco_doc_store.service")


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


def readable_owner(caller: Principal) -> str | None:
    """Whose documents `caller` reads: its own, or anyone's (None) with `docs:read:all`."""
    return None if caller.sees_all("docs:read") else caller.owner


def writable_owner(caller: Principal) -> str | None:
    """Whose documents `caller` changes: its own, or anyone's (None) as an admin."""
    return None if caller.has(ADMIN) else caller.owner


def wants_content(row: Any, limit: int) -> bool:
    """Whether a view of this version carries its text (read the bytes only then)."""
    return DocumentFormat(row["format"]) is not DocumentFormat.pdf and row["size_bytes"] <= limit


def inline_content(
    fmt: DocumentFormat, size_bytes: int, content: bytes | None, limit: int
) -> tuple[str | None, ContentOmitted | None]:
    """The text a view carries, or why it carries none."""
    if fmt is DocumentFormat.pdf:
        return None, "binary"
    if size_bytes > limit:
        return None, "too_large"
    if content is None:
        return None, "not_requested"
    try:
        return content.decode("utf-8"), None
    except UnicodeDecodeError:  # a text format sent as base64 bytes that are not UTF-8
        return None, "binary"


def view(
    row: Any, base_url: str, *, content: bytes | None = None, limit: int = 0
) -> DocumentPublic:
    """The public view of a document joined with one version (a row or a mapping).

    `content` is the version's bytes when the view should carry its text (within `limit`).
    """
    fmt = DocumentFormat(row["format"])
    base = f"/documents/{row['id']}"
    text, omitted = inline_content(fmt, row["size_bytes"], content, limit)
    return DocumentPublic(
        id=row["id"],
        owner=row["owner"],
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
        content_url=f"{base_url}{base}/download?version={row['version']}",
        content=text,
        content_omitted=omitted,
    )


def new_view(
    new: repo.NewVersion,
    base_url: str,
    *,
    owner: str,
    latest_version: int,
    created_at: datetime,
    updated_at: datetime,
    limit: int,
) -> DocumentPublic:
    """The public view of a version just written (no need to read it back)."""
    return view(
        {
            "id": new.document_id,
            "owner": owner,
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
        },
        base_url,
        content=new.content,
        limit=limit,
    )


def document_not_found(document_id: str) -> NotFound:
    """404 for an unknown document id."""
    return NotFound("Document", document_id, f"No document with id {document_id}.")


def document_gone(document_id: str, deleted_at: datetime) -> ProblemError:
    """404 for a soft-deleted document and every sub-resource of it (`deleted_at` says when)."""
    return NotFound(
        "Document",
        document_id,
        f"Document {document_id} was deleted at {deleted_at.isoformat()}.",
        title="Document deleted",
        deleted_at=deleted_at,
    )


def check_page(page: int, page_size: int, total: int) -> None:
    """404 for a page past the end (page 1 always exists, empty or not)."""
    if page > 1 and (page - 1) * page_size >= total:
        last = max(1, -(-total // page_size))
        raise NotFound(
            "Page",
            page,
            f"Page {page} is past the end: {total} items make {last} page(s) of {page_size}.",
            total=total,
            last_page=last,
        )


class ServiceBase:
    """The database, the outbox relays (events, audit) and the settings every operation
    works with. Every operation takes the caller: another principal's document is not
    found (404), exactly as if it did not exist, unless the caller may see every one."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: OutboxRelay,
        settings: DocStoreSettings,
        audit: OutboxRelay | None = None,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        # security-relevant records for `eco.audit` (the events' own outbox when not given)
        self.audit = audit or outbox
        self.settings = settings
        # SQLite has one writer per file: writers queue here rather than in SQLite's busy
        # handler, which sleeps (up to 100 ms a try) while the lock is held
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self.creates = CreateBatcher(self.writing, self.outbox.stage_many)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction, committed when the block ends (the relay woken then)."""
        async with self._write_lock or contextlib.nullcontext(), self.outbox.begin() as conn:
            yield conn

    async def _view_row(
        self, conn: AsyncConnection, caller: Principal, document_id: str, version: int | None
    ) -> Any:
        """The live document at `version` as `caller` sees it; 404 when unknown, not the
        caller's, deleted, or no such version."""
        owner = readable_owner(caller)
        row = await repo.get_view(conn, document_id, version, owner)
        if row is not None:
            if row["deleted_at"] is not None:
                raise document_gone(document_id, row["deleted_at"])
            return row
        doc = await repo.get_document(conn, document_id, owner)
        if doc is None:
            raise document_not_found(document_id)
        if doc.deleted_at is not None:
            raise document_gone(document_id, doc.deleted_at)
        raise NotFound(
            "Version",
            version,
            f"Document {document_id} has no version {version} (the latest is"
            f" {doc.latest_version}).",
            latest_version=doc.latest_version,
        )

    async def _unwritable(
        self, conn: AsyncConnection, caller: Principal, document_id: str
    ) -> ProblemError:
        """Why a write found no live document of the caller's to change."""
        doc = await repo.get_document(conn, document_id, readable_owner(caller))
        if doc is None:
            return document_not_found(document_id)
        if doc.deleted_at is not None:
            return document_gone(document_id, doc.deleted_at)
        # seen with docs:read:all, but another's: only its owner or an admin changes it
        return InsufficientScope([ADMIN], [ADMIN])

"""What every part of the doc-store service shares: resources, views, errors, events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eco_doc_store import repository as repo
from eco_doc_store.models import MEDIA_TYPES
from eco_doc_store.settings import DocStoreSettings
from eco_shared.bus import EventBus
from eco_shared.models.doc_store import DocumentFormat, DocumentPublic
from eco_shared.problems import NotFound, ProblemError
from eco_shared.provenance import ProvenanceRecord

log = structlog.get_logger("eco_doc_store.service")


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


def view(row: Any) -> DocumentPublic:
    """The public view of a document joined with one version (a row or a mapping)."""
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


def new_view(
    new: repo.NewVersion, *, latest_version: int, created_at: datetime, updated_at: datetime
) -> DocumentPublic:
    """The public view of a version just written (no need to read it back)."""
    return view(
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


def document_not_found(document_id: str) -> NotFound:
    """404 for an unknown document id."""
    return NotFound("Document", document_id, f"No document with id {document_id}.")


def document_gone(document_id: str, deleted_at: datetime) -> ProblemError:
    """410 for a soft-deleted document (its versions and provenance stay readable)."""
    return ProblemError(
        410,
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
    """The database, the bus and the settings every operation works with."""

    def __init__(self, engine: AsyncEngine, bus: EventBus, settings: DocStoreSettings) -> None:
        self.engine = engine
        self.bus = bus
        self.settings = settings

    async def _view_row(self, conn: AsyncConnection, document_id: str, version: int | None) -> Any:
        row = await repo.get_view(conn, document_id, version)
        if row is not None:
            return row
        doc = await repo.get_document(conn, document_id)
        if doc is None:
            raise document_not_found(document_id)
        raise NotFound(
            "Version",
            version,
            f"Document {document_id} has no version {version} (the latest is"
            f" {doc.latest_version}).",
            latest_version=doc.latest_version,
        )

    async def _missing_or_gone(self, conn: AsyncConnection, document_id: str) -> ProblemError:
        doc = await repo.get_document(conn, document_id)
        if doc is None or doc.deleted_at is None:
            return document_not_found(document_id)
        return document_gone(document_id, doc.deleted_at)

    async def _publish(
        self, type_: str, document: DocumentPublic, record: ProvenanceRecord | None
    ) -> None:
        run = record.workflow_execution if record else None
        await self._emit(
            type_,
            {
                "document_id": document.id,
                "version": document.version,
                "title": document.title,
                "format": document.format.value,
                "sha256": document.sha256,
                "size_bytes": document.size_bytes,
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

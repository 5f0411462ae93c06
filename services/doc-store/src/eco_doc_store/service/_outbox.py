"""What the doc store's `document.*` events and audit records say, staged in the outboxes
with the write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eco_doc_store import repository as repo
from eco_shared.auth import Principal
from eco_shared.provenance import ProvenanceRecord


def document_event(
    new: repo.NewVersion, record: ProvenanceRecord | None, owner: str
) -> dict[str, Any]:
    """The data of `document.stored` / `document.versioned` for the version `new`."""
    run = record.workflow_execution if record else None
    return {
        "document_id": new.document_id,
        "owner": owner,
        "version": new.version,
        "title": new.title,
        "format": new.format,
        "sha256": new.sha256,
        "size_bytes": new.size_bytes,
        "execution_id": run.execution_id if run else None,
        "trace_id": record.trace_id if record else None,
    }


def deleted_event(document_id: str, owner: str, deleted_at: datetime) -> dict[str, Any]:
    """The data of `document.deleted` on `eco.events`."""
    return {"document_id": document_id, "owner": owner, "deleted_at": deleted_at.isoformat()}


def deleted_audit(
    document_id: str, owner: str, caller: Principal, deleted_at: datetime
) -> dict[str, Any]:
    """The `document.deleted` audit record: whose document, deleted by whom (no secret)."""
    return {
        "service": "doc-store",
        "document_id": document_id,
        "owner": owner,
        "by": caller.subject,
        "acting_chain": caller.acting_chain(),
        "key_id": caller.key_id,
        "grant_id": caller.grant_id,
        "deleted_at": deleted_at.isoformat(),
    }

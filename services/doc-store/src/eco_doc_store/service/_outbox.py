"""What the doc store's `document.*` events say, staged in the outbox with the write."""

from __future__ import annotations

from typing import Any

from eco_doc_store import repository as repo
from eco_shared.provenance import ProvenanceRecord


def document_event(new: repo.NewVersion, record: ProvenanceRecord | None) -> dict[str, Any]:
    """The data of `document.stored` / `document.versioned` for the version `new`."""
    run = record.workflow_execution if record else None
    return {
        "document_id": new.document_id,
        "version": new.version,
        "title": new.title,
        "format": new.format,
        "sha256": new.sha256,
        "size_bytes": new.size_bytes,
        "execution_id": run.execution_id if run else None,
        "trace_id": record.trace_id if record else None,
    }

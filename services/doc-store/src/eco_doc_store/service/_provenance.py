"""Provenance of a version: the stored record, or W3C PROV-JSON of its history."""

from __future__ import annotations

from typing import Any

from eco_doc_store import repository as repo
from eco_doc_store.provjson import VersionFacts, prov_json
from eco_doc_store.service._base import ServiceBase
from eco_shared.provenance import ProvenanceRecord


class ProvenanceOps(ServiceBase):
    """Read the provenance stored with versions (404 once the document is deleted)."""

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

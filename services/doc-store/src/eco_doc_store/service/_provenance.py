"""Provenance of a version: the stored record with who stored it, or W3C PROV-JSON.

The record is kept as its producer sent it; what the doc store itself knows from the token
is added when it is read: `principal` (the subject that stored the version) and
`acting_chain` (that subject, then every service that acted for it). A `user_id` in the
record's `user_context` is only a claim: it is shown as `claimed_user_id`, and `user_id`
is the verified user (the principal's id when it is a user), so old and new versions read
the same way.
"""

from __future__ import annotations

from typing import Any

from eco_doc_store import repository as repo
from eco_doc_store.provjson import VersionFacts, prov_json
from eco_doc_store.service._base import ServiceBase
from eco_shared.auth import Principal, user_subject
from eco_shared.provenance import ProvenanceRecord


def _verified_user(principal: str | None) -> str | None:
    if principal is None or not principal.startswith(user_subject("")):
        return None
    return principal[len(user_subject("")) :]


def presented_record(row: Any) -> ProvenanceRecord:
    """A version's record as the doc store answers it (see the module docstring)."""
    data: dict[str, Any] = dict(row["provenance"] or {})
    principal: str | None = row["principal"]
    user = data.get("user_context")
    if isinstance(user, dict):
        user = dict(user)
        claimed = user.pop("user_id", None)
        if claimed is not None:
            user["claimed_user_id"] = claimed
        user["user_id"] = _verified_user(principal)
        data["user_context"] = user
    data["principal"] = principal
    data["acting_chain"] = list(row["acting_chain"] or ([principal] if principal else []))
    return ProvenanceRecord.model_validate(data)


class ProvenanceOps(ServiceBase):
    """Read the provenance stored with versions (404 once the document is deleted)."""

    async def _provenance_rows(
        self, caller: Principal, document_id: str, version: int | None
    ) -> list[Any]:
        async with self.engine.connect() as conn:
            row = await self._view_row(conn, caller, document_id, version)
            return await repo.versions_up_to(conn, document_id, row["version"])

    async def provenance(
        self, caller: Principal, document_id: str, version: int | None
    ) -> ProvenanceRecord:
        """The provenance record of a version (only the principal's when none was given)."""
        rows = await self._provenance_rows(caller, document_id, version)
        return presented_record(rows[-1])

    async def provenance_prov_json(
        self, caller: Principal, document_id: str, version: int | None
    ) -> str:
        """W3C PROV-JSON of versions 1..`version` of a document."""
        rows = await self._provenance_rows(caller, document_id, version)
        facts = [
            VersionFacts(
                version=r["version"],
                title=r["title"],
                format=r["format"],
                sha256=r["sha256"],
                size_bytes=r["size_bytes"],
                created_at=r["created_at"],
                provenance=(presented_record(r) if r["provenance"] is not None else None),
                principal=r["principal"],
                acting_chain=tuple(r["acting_chain"] or ()),
            )
            for r in rows
        ]
        return prov_json(document_id, facts)

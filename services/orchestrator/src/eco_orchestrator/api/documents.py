"""`/documents/{id}/provenance`: the doc store's provenance record, through the orchestrator."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path

from eco_orchestrator.api._problems import DOC_STORE_FAILED
from eco_orchestrator.deps import OrchestratorDep
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/documents", tags=["documents"])


@router.get(
    "/{document_id}/provenance",
    summary="A document's provenance (from the doc store)",
    responses=problem_responses(*DOC_STORE_FAILED),
)
async def document_provenance(
    document_id: Annotated[str, Path(min_length=1, max_length=64)],
    orchestrator: OrchestratorDep,
    format: Literal["json", "prov-json"] | None = None,
) -> dict[str, Any]:
    return await orchestrator.document_provenance(document_id, format)

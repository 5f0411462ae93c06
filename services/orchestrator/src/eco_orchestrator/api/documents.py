"""`/documents/{id}/provenance`: the doc store's provenance record, through the orchestrator."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path

from eco_orchestrator.api._problems import DOC_STORE_FAILED
from eco_orchestrator.deps import OrchestratorDep
from eco_shared.auth import Principal, require
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/documents", tags=["documents"])


@router.get(
    "/{document_id}/provenance",
    summary="The provenance of a document one of the caller's runs stored (from the doc store)",
    responses=problem_responses(
        *DOC_STORE_FAILED, (409, "The run that made it can no longer act for its owner")
    ),
)
async def document_provenance(
    document_id: Annotated[str, Path(min_length=1, max_length=64)],
    orchestrator: OrchestratorDep,
    caller: Annotated[Principal, require("runs:read")],
    format: Literal["json", "prov-json"] | None = None,
) -> dict[str, Any]:
    return await orchestrator.document_provenance(document_id, format, caller)

"""`GET /v1/providers`: health, latency and error rate of each provider."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eco_llm_gateway.deps import HttpDep, LlmGatewayDep
from eco_shared.auth import require
from eco_shared.models.llm_gateway import ProviderList
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/v1/providers", tags=["providers"])


@router.get(
    "",
    summary="Health, latency and error rate of every configured provider",
    responses=problem_responses((422, "probe is not a boolean")),
    dependencies=[require("gateway:read")],
)
async def list_providers(
    gateway: LlmGatewayDep,
    http: HttpDep,
    probe: Annotated[
        bool,
        Query(description="Also call each provider's model list now (bounded by its timeout)."),
    ] = False,
) -> ProviderList:
    """Recent outcomes from the shared usage store; with `probe`, a live check as well."""
    return await gateway.provider_list(http, probe=probe)

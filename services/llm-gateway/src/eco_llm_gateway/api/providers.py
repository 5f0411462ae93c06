"""`GET /v1/providers`: health, latency and error rate of each provider."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eco_llm_gateway.deps import GatewayDep, HttpDep
from eco_llm_gateway.models import ProviderList
from eco_llm_gateway.service import provider_statuses

router = APIRouter(prefix="/v1/providers", tags=["providers"])


@router.get("", summary="Health, latency and error rate of every configured provider")
async def list_providers(
    gateway: GatewayDep,
    http: HttpDep,
    probe: Annotated[
        bool,
        Query(description="Also call each provider's model list now (bounded by its timeout)."),
    ] = False,
) -> ProviderList:
    """Recent outcomes from the shared usage store; with `probe`, a live check as well."""
    return ProviderList(
        providers=await provider_statuses(gateway, http, probe=probe),
        routing=[f"{p}/{m}" for p, m in gateway.settings.preference()],
    )

"""`/capabilities`: search operations across every registered service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eco_discovery.api._problems import REDIS_DOWN
from eco_discovery.deps import DiscoveryDep
from eco_discovery.models import NAME_PATTERN, CapabilityPage
from eco_shared.auth import require
from eco_shared.problems import problem_responses

router = APIRouter(
    prefix="/capabilities", tags=["capabilities"], dependencies=[require("discovery:read")]
)


@router.get(
    "",
    response_model=CapabilityPage,
    summary="Search operations across services",
    responses=problem_responses(422, REDIS_DOWN),
)
async def search_capabilities(
    discovery: DiscoveryDep,
    q: Annotated[str | None, Query(max_length=200, description="Substring, any field")] = None,
    service: Annotated[str | None, Query(max_length=64, pattern=NAME_PATTERN)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> CapabilityPage:
    return await discovery.catalog.search_capabilities(
        q=q, service=service, tag=tag, limit=limit, offset=offset
    )

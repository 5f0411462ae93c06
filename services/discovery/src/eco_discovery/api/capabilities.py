"""`/capabilities`: search operations across every registered service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from eco_discovery.deps import Discovery
from eco_discovery.models import NAME_PATTERN, CapabilityPage

router = APIRouter(prefix="/capabilities", tags=["capabilities"])


@router.get("", response_model=CapabilityPage, summary="Search operations across services")
async def search_capabilities(
    discovery: Discovery,
    q: Annotated[str | None, Query(max_length=200, description="Substring, any field")] = None,
    service: Annotated[str | None, Query(max_length=64, pattern=NAME_PATTERN)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> CapabilityPage:
    return await discovery.search_capabilities(
        q=q, service=service, tag=tag, limit=limit, offset=offset
    )

"""`/services`: what is registered, by service name."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from eco_discovery.api._problems import REDIS_DOWN
from eco_discovery.deps import DiscoveryDep
from eco_discovery.models import ServiceInstances, ServiceList
from eco_shared.auth import require
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/services", tags=["services"], dependencies=[require("discovery:read")])

# No pattern on lookups: a name that could never be registered is simply not found (404).
ServiceName = Annotated[str, Path(min_length=1, max_length=64)]


@router.get(
    "",
    response_model=ServiceList,
    summary="Services with instance counts and health",
    responses=problem_responses(REDIS_DOWN),
)
async def list_services(discovery: DiscoveryDep) -> ServiceList:
    return await discovery.catalog.services()


@router.get(
    "/{name}",
    response_model=ServiceInstances,
    summary="The instances of one service",
    responses=problem_responses(
        (404, "No instance of this service is registered"), 422, REDIS_DOWN
    ),
)
async def get_service(
    name: ServiceName,
    discovery: DiscoveryDep,
    healthy: Annotated[bool, Query(description="Only instances whose status is passing")] = False,
) -> Response:
    # The hot path of every resolve: the bytes kept in memory until the registry changes.
    body = await discovery.snapshot.instances_json(name, healthy=healthy)
    return Response(body, media_type="application/json")


@router.get(
    "/{name}/openapi",
    summary="The stored OpenAPI document of a service",
    responses=problem_responses(
        (404, "No instance of this service is registered, or no OpenAPI document is stored"),
        422,
        REDIS_DOWN,
    ),
)
async def get_service_openapi(name: ServiceName, discovery: DiscoveryDep) -> dict[str, Any]:
    return await discovery.catalog.openapi(name)

"""`/services`: what is registered, by service name."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from eco_discovery.deps import Discovery
from eco_discovery.models import NAME_PATTERN, ServiceInstances, ServiceList

router = APIRouter(prefix="/services", tags=["services"])

ServiceName = Annotated[str, Path(min_length=1, max_length=64, pattern=NAME_PATTERN)]


@router.get("", response_model=ServiceList, summary="Services with instance counts and health")
async def list_services(discovery: Discovery) -> ServiceList:
    return await discovery.services()


@router.get("/{name}", response_model=ServiceInstances, summary="The instances of one service")
async def get_service(
    name: ServiceName,
    discovery: Discovery,
    healthy: Annotated[bool, Query(description="Only instances whose status is passing")] = False,
) -> Response:
    body = ServiceInstances(
        name=name, instances=await discovery.service_instances(name, healthy=healthy)
    )
    # The hot path of every resolve: serialized once here rather than validated again.
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/{name}/openapi", summary="The stored OpenAPI document of a service")
async def get_service_openapi(name: ServiceName, discovery: Discovery) -> dict[str, Any]:
    return await discovery.openapi(name)

"""`/instances`: register, renew, deregister and read one instance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from eco_discovery.deps import Discovery
from eco_discovery.models import INSTANCE_ID_PATTERN, InstanceCreate, InstancePublic, Lease

router = APIRouter(prefix="/instances", tags=["instances"])

InstanceId = Annotated[str, Path(min_length=1, max_length=128, pattern=INSTANCE_ID_PATTERN)]


@router.post(
    "",
    response_model=Lease,
    status_code=201,
    summary="Register an instance (201 new, 200 when re-registering the same id)",
    responses={200: {"model": Lease, "description": "Re-registration of a known instance"}},
)
async def register(body: InstanceCreate, discovery: Discovery, response: Response) -> Lease:
    lease = await discovery.register(body)
    if not lease.created:
        response.status_code = 200
    return lease


@router.put("/{instance_id}/heartbeat", response_model=Lease, summary="Renew an instance's lease")
async def heartbeat(instance_id: InstanceId, discovery: Discovery) -> Lease:
    return await discovery.heartbeat(instance_id)


@router.delete("/{instance_id}", status_code=204, summary="Deregister an instance")
async def deregister(instance_id: InstanceId, discovery: Discovery) -> Response:
    await discovery.deregister(instance_id)
    return Response(status_code=204)


@router.get("/{instance_id}", response_model=InstancePublic, summary="One instance")
async def get_instance(instance_id: InstanceId, discovery: Discovery) -> InstancePublic:
    return await discovery.instance(instance_id)

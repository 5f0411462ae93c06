"""`/instances`: register, renew, deregister and read one instance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from eco_discovery.api._problems import REDIS_DOWN
from eco_discovery.deps import DiscoveryDep
from eco_discovery.models import InstanceCreate, InstancePublic, Lease
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/instances", tags=["instances"])

# No pattern on lookups: an id that could never be registered is simply not found (404).
InstanceId = Annotated[str, Path(min_length=1, max_length=128)]

_UNKNOWN = (404, "No instance with this id is registered (a registrar registers afresh)")


@router.post(
    "",
    response_model=Lease,
    status_code=201,
    summary="Register an instance (201 new, 200 when re-registering the same id)",
    responses={
        200: {"model": Lease, "description": "Re-registration of a known instance"},
        **problem_responses(
            400,
            (422, "Invalid name, id, base URL or tags; meta or ttl_s over the limit"),
            (507, "The registry holds its limit of instances"),
            REDIS_DOWN,
        ),
    },
)
async def register(body: InstanceCreate, discovery: DiscoveryDep, response: Response) -> Lease:
    lease = await discovery.instances.register(body)
    if not lease.created:
        response.status_code = 200
    return lease


@router.put(
    "/{instance_id}/heartbeat",
    response_model=Lease,
    summary="Renew an instance's lease",
    responses=problem_responses(_UNKNOWN, 422, REDIS_DOWN),
)
async def heartbeat(instance_id: InstanceId, discovery: DiscoveryDep) -> Lease:
    return await discovery.instances.heartbeat(instance_id)


@router.delete(
    "/{instance_id}",
    status_code=204,
    summary="Deregister an instance",
    responses=problem_responses(_UNKNOWN, 422, REDIS_DOWN),
)
async def deregister(instance_id: InstanceId, discovery: DiscoveryDep) -> Response:
    await discovery.instances.deregister(instance_id)
    return Response(status_code=204)


@router.get(
    "/{instance_id}",
    response_model=InstancePublic,
    summary="One instance",
    responses=problem_responses(_UNKNOWN, 422, REDIS_DOWN),
)
async def get_instance(instance_id: InstanceId, discovery: DiscoveryDep) -> InstancePublic:
    return await discovery.instances.get(instance_id)

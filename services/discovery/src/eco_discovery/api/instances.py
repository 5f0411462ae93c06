"""`/instances`: register, renew, deregister and read one instance.

Registering, renewing and removing need `discovery:register:<name>` for the instance's
service name (a scope that names a value: checked in the service, declared here).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from eco_discovery.api._problems import REDIS_DOWN
from eco_discovery.deps import DiscoveryDep
from eco_discovery.models import InstanceCreate, InstancePublic, Lease
from eco_shared.auth import Principal, require
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/instances", tags=["instances"])

# No pattern on lookups: an id that could never be registered is simply not found (404).
InstanceId = Annotated[str, Path(min_length=1, max_length=128)]
Caller = Annotated[Principal, require()]

_UNKNOWN = (404, "No instance with this id is registered (a registrar registers afresh)")
_REGISTER_SCOPE = {"x-eco-scopes": ["discovery:register:{name}"]}
_NOT_YOURS = (
    403,
    "No `discovery:register:<name>` for the instance's name, or another principal's instance",
)


@router.post(
    "",
    response_model=Lease,
    status_code=201,
    summary="Register an instance (201 new, 200 when re-registering the same id)",
    openapi_extra=_REGISTER_SCOPE,
    responses={
        200: {"model": Lease, "description": "Re-registration of a known instance"},
        **problem_responses(
            400,
            (403, "No `discovery:register:<name>` for the body's `name`"),
            (409, "The instance id is registered under another name or by another principal"),
            (422, "Invalid name, id, base URL or tags; meta or ttl_s over the limit"),
            (507, "The registry holds its limit of instances"),
            REDIS_DOWN,
        ),
    },
)
async def register(
    body: InstanceCreate, discovery: DiscoveryDep, response: Response, caller: Caller
) -> Lease:
    lease = await discovery.instances.register(body, caller)
    if not lease.created:
        response.status_code = 200
    return lease


@router.put(
    "/{instance_id}/heartbeat",
    response_model=Lease,
    summary="Renew the lease of one registration (its generation)",
    openapi_extra=_REGISTER_SCOPE,
    responses=problem_responses(
        _NOT_YOURS,
        _UNKNOWN,
        (409, "The instance is registered under another generation: register again"),
        422,
        REDIS_DOWN,
    ),
)
async def heartbeat(
    instance_id: InstanceId,
    discovery: DiscoveryDep,
    caller: Caller,
    generation: Annotated[
        int, Query(ge=1, le=2**62, description="The generation the registration answered with")
    ],
) -> Lease:
    return await discovery.instances.heartbeat(instance_id, generation, caller)


@router.delete(
    "/{instance_id}",
    status_code=204,
    summary="Deregister an instance (an admin may remove another principal's)",
    openapi_extra=_REGISTER_SCOPE,
    responses=problem_responses(
        _NOT_YOURS,
        _UNKNOWN,
        (409, "`generation` is not the instance's current registration"),
        422,
        REDIS_DOWN,
    ),
)
async def deregister(
    instance_id: InstanceId,
    discovery: DiscoveryDep,
    caller: Caller,
    generation: Annotated[
        int | None, Query(ge=1, le=2**62, description="Only this registration")
    ] = None,
) -> Response:
    await discovery.instances.deregister(instance_id, caller, generation=generation)
    return Response(status_code=204)


@router.get(
    "/{instance_id}",
    response_model=InstancePublic,
    summary="One instance",
    dependencies=[require("discovery:read")],
    responses=problem_responses(_UNKNOWN, 422, REDIS_DOWN),
)
async def get_instance(instance_id: InstanceId, discovery: DiscoveryDep) -> InstancePublic:
    return await discovery.instances.get(instance_id)

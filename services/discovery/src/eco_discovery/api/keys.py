"""`/auth/keys`: a principal's API keys. Keys belong to the principal that created them;
another principal's key is 404, exactly as an unknown one (`auth:keys:all` or admin sees
every key). A secret is shown once, when the key is created or rotated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from eco_discovery.api._problems import REDIS_DOWN
from eco_discovery.deps import KeysDep
from eco_shared.auth import Principal, require
from eco_shared.models.discovery_auth import (
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyPublic,
    KeyRotate,
)
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/auth/keys", tags=["auth"])

Caller = Annotated[Principal, require("auth:keys")]
# No pattern on lookups: an id that could never exist is simply not found (404).
KeyId = Annotated[str, Path(min_length=1, max_length=64, description="The key id (eco_<id>_…)")]
_UNKNOWN = (404, "No such key, not the caller's, or revoked (`title`: API key revoked)")
NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "",
    response_model=KeyCreated,
    status_code=201,
    summary="Create an API key (its secret is shown once)",
    responses=problem_responses(
        (403, "`auth:keys`, or a scope the creator does not hold"), 422, REDIS_DOWN
    ),
)
async def create_key(
    body: KeyCreate, keys: KeysDep, caller: Caller, response: Response
) -> KeyCreated:
    response.headers.update(NO_STORE)
    return await keys.create(caller, body)


@router.get(
    "",
    response_model=KeyList,
    summary="The caller's API keys (every key for auth:keys:all or admin); never a secret",
    responses=problem_responses(422, REDIS_DOWN),
)
async def list_keys(
    keys: KeysDep,
    caller: Caller,
    include_revoked: Annotated[bool, Query(description="Revoked keys too")] = False,
) -> KeyList:
    return await keys.list(caller, include_revoked=include_revoked)


@router.get(
    "/{key_id}",
    response_model=KeyPublic,
    summary="One API key",
    responses=problem_responses(_UNKNOWN, 422, REDIS_DOWN),
)
async def get_key(key_id: KeyId, keys: KeysDep, caller: Caller) -> KeyPublic:
    return await keys.get(caller, key_id)


@router.post(
    "/{key_id}/rotate",
    response_model=KeyCreated,
    summary="A new secret for the same key id; the old one works for `grace_s`",
    responses=problem_responses(_UNKNOWN, 422, REDIS_DOWN),
)
async def rotate_key(
    key_id: KeyId,
    keys: KeysDep,
    caller: Caller,
    response: Response,
    body: KeyRotate | None = None,
) -> KeyCreated:
    response.headers.update(NO_STORE)
    return await keys.rotate(caller, key_id, body or KeyRotate())


@router.delete(
    "/{key_id}",
    status_code=204,
    summary="Revoke an API key, at once and everywhere (a second call is 204 too)",
    responses=problem_responses((404, "No such key, or not the caller's"), 422, REDIS_DOWN),
)
async def revoke_key(key_id: KeyId, keys: KeysDep, caller: Caller) -> Response:
    await keys.revoke(caller, key_id)
    return Response(status_code=204)

"""`/prompts/{name}/labels`: read a label's version or resolution, move it (compare and
swap), its history, rollback.

Reads need `prompts:read`, moves and rollbacks `prompts:write`; every move is recorded
with the caller and published as `prompt.label_moved`.
"""

from __future__ import annotations

from fastapi import APIRouter

from eco_prompt_store.api._http import (
    NOT_MODIFIED,
    CursorParam,
    IfNoneMatch,
    LabelParam,
    LimitParam,
    NameParam,
    with_etag,
)
from eco_prompt_store.deps import PromptStoreDep, Reader, Writer
from eco_shared.models.prompt_store import (
    Label,
    LabelMovePage,
    LabelMoveRequest,
    PromptVersion,
    Resolution,
    RollbackRequest,
)
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/prompts/{name}/labels", tags=["labels"])

_NO_LABEL = (404, "No prompt of that name, or no such label")


@router.get(
    "/{label}",
    summary="The version a label points at (ETag: its sha256)",
    responses={**NOT_MODIFIED, **problem_responses(_NO_LABEL, 422)},
)
async def get_label(
    _caller: Reader,
    name: NameParam,
    label: LabelParam,
    prompts: PromptStoreDep,
    if_none_match: IfNoneMatch = None,
) -> PromptVersion:
    version = await prompts.get_label_version(name, label)
    return with_etag(version, version.sha256, if_none_match)  # type: ignore[return-value]


@router.get(
    "/{label}/resolution",
    summary="Everything to assign and render offline: the version and its running experiment",
    responses={**NOT_MODIFIED, **problem_responses(_NO_LABEL, 422)},
)
async def resolve_label(
    _caller: Reader,
    name: NameParam,
    label: LabelParam,
    prompts: PromptStoreDep,
    if_none_match: IfNoneMatch = None,
) -> Resolution:
    resolution, etag = await prompts.resolution(name, label)
    return with_etag(resolution, etag, if_none_match)  # type: ignore[return-value]


@router.put(
    "/{label}",
    summary="Move a label (compare and swap on `expected_version`)",
    responses=problem_responses(
        (400, "`latest` moves by itself"),
        (404, "No prompt of that name, or no such version"),
        (409, "The label is not at `expected_version`; `current_version` says where it is"),
        422,
    ),
)
async def move_label(
    caller: Writer,
    name: NameParam,
    label: LabelParam,
    body: LabelMoveRequest,
    prompts: PromptStoreDep,
) -> Label:
    return await prompts.move_label(caller, name, label, body)


@router.get(
    "/{label}/history",
    summary="Moves of a label, newest first",
    responses=problem_responses(_NO_LABEL, 422),
)
async def label_history(
    _caller: Reader,
    name: NameParam,
    label: LabelParam,
    prompts: PromptStoreDep,
    cursor: CursorParam = None,
    limit: LimitParam = 20,
) -> LabelMovePage:
    return await prompts.history(name, label, cursor=cursor, limit=limit)


@router.post(
    "/{label}/rollback",
    summary="Move a label back to where its last move took it from",
    responses=problem_responses(
        (400, "`latest` moves by itself"),
        _NO_LABEL,
        (409, "No earlier version to go back to, or the label is not at `expected_version`"),
        422,
    ),
)
async def rollback_label(
    caller: Writer,
    name: NameParam,
    label: LabelParam,
    body: RollbackRequest,
    prompts: PromptStoreDep,
) -> Label:
    return await prompts.rollback(caller, name, label, body)

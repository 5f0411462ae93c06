"""`/prompts`: create, list and search prompts; add, list and read versions; render; diff.

Reads and renders need `prompts:read`; creating prompts and versions `prompts:write`, and
the caller is recorded as the prompt's creator and the version's author.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from eco_prompt_store.api._http import (
    NOT_MODIFIED,
    CursorParam,
    IfNoneMatch,
    LimitParam,
    NameParam,
    VersionParam,
    with_etag,
)
from eco_prompt_store.deps import PromptStoreDep, Reader, Writer
from eco_shared.models.prompt_store import (
    TAG_PATTERN,
    TEXT_PATTERN,
    Diff,
    Kind,
    Prompt,
    PromptCreate,
    PromptPage,
    PromptVersion,
    PromptVersionCreate,
    Rendered,
    RenderRequest,
    VersionPage,
)
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/prompts", tags=["prompts"])

_NO_PROMPT = (404, "No prompt of that name")
_NO_VERSION = (404, "No prompt of that name, or no such version")


@router.post(
    "",
    status_code=201,
    summary="Create a prompt",
    responses=problem_responses((409, "A prompt of that name exists"), 422),
)
async def create_prompt(
    caller: Writer, body: PromptCreate, prompts: PromptStoreDep, response: Response
) -> Prompt:
    prompt = await prompts.create_prompt(caller, body)
    response.headers["Location"] = f"/prompts/{prompt.name}"
    return prompt


@router.get(
    "",
    summary="List and search prompts, newest first",
    responses=problem_responses(422),
)
async def list_prompts(
    _caller: Reader,
    prompts: PromptStoreDep,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=TEXT_PATTERN,
            description="A case-insensitive substring of the name, description, tags or the"
            " text of the version `latest` points at.",
        ),
    ] = None,
    tag: Annotated[str | None, Query(pattern=TAG_PATTERN)] = None,
    kind: Kind | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 20,
) -> PromptPage:
    return await prompts.list_prompts(q=q, tag=tag, kind=kind, cursor=cursor, limit=limit)


@router.get(
    "/by-sha256/{sha256}",
    summary="The first version stored with these template bytes",
    responses={**NOT_MODIFIED, **problem_responses((404, "No version has this sha256"), 422)},
)
async def get_by_sha256(
    _caller: Reader,
    prompts: PromptStoreDep,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    if_none_match: IfNoneMatch = None,
) -> PromptVersion:
    version = await prompts.get_by_sha256(sha256)
    return with_etag(version, version.sha256, if_none_match)  # type: ignore[return-value]


@router.get(
    "/{name}", summary="A prompt and its labels", responses=problem_responses(_NO_PROMPT, 422)
)
async def get_prompt(_caller: Reader, name: NameParam, prompts: PromptStoreDep) -> Prompt:
    return await prompts.get_prompt(name)


@router.post(
    "/{name}/versions",
    status_code=201,
    summary="Add a version (identical content answers the existing version with 200)",
    responses={
        200: {"description": "The identical version stored before", "model": PromptVersion},
        **problem_responses(
            _NO_PROMPT,
            (
                422,
                "The template does not parse, uses undeclared variables, is over the size"
                " limit, or a field is invalid; `errors[]` names each",
            ),
        ),
    },
)
async def add_version(
    caller: Writer,
    name: NameParam,
    body: PromptVersionCreate,
    prompts: PromptStoreDep,
    response: Response,
) -> PromptVersion:
    version, created = await prompts.add_version(caller, name, body)
    response.headers["Location"] = f"/prompts/{name}/versions/{version.version}"
    if not created:
        response.status_code = 200
        response.headers["X-Eco-Existing"] = "true"
    return version


@router.get(
    "/{name}/versions",
    summary="Versions of a prompt, newest first",
    responses=problem_responses(_NO_PROMPT, 422),
)
async def list_versions(
    _caller: Reader,
    name: NameParam,
    prompts: PromptStoreDep,
    cursor: CursorParam = None,
    limit: LimitParam = 20,
) -> VersionPage:
    return await prompts.list_versions(name, cursor=cursor, limit=limit)


@router.get(
    "/{name}/versions/{version}",
    summary="One version (ETag: its sha256)",
    responses={**NOT_MODIFIED, **problem_responses(_NO_VERSION, 422)},
)
async def get_version(
    _caller: Reader,
    name: NameParam,
    version: VersionParam,
    prompts: PromptStoreDep,
    if_none_match: IfNoneMatch = None,
) -> PromptVersion:
    found = await prompts.get_version(name, version)
    return with_etag(found, found.sha256, if_none_match)  # type: ignore[return-value]


@router.post(
    "/{name}/versions/{version}/render",
    summary="Render a version with variables",
    responses=problem_responses(
        _NO_VERSION,
        (422, "Missing, unknown or mistyped variables, or a failed render; `errors[]` names each"),
    ),
)
async def render_version(
    _caller: Reader,
    name: NameParam,
    version: VersionParam,
    body: RenderRequest,
    prompts: PromptStoreDep,
) -> Rendered:
    return await prompts.render(name, version, body.variables)


@router.get(
    "/{name}/diff",
    summary="A unified diff of two versions' templates, and what else changed",
    responses=problem_responses(_NO_VERSION, 422),
)
async def diff_versions(
    _caller: Reader,
    name: NameParam,
    prompts: PromptStoreDep,
    from_version: Annotated[int, Query(alias="from", ge=1, le=2**31 - 1)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=2**31 - 1)],
) -> Diff:
    return await prompts.diff(name, from_version, to_version)

"""What the routers share: path and page parameters, and ETag / `If-None-Match` handling."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from eco_prompt_store.service import CURSOR_PATTERN
from eco_shared.models.prompt_store import LABEL_PATTERN, MAX_PAGE_SIZE, NAME_PATTERN

NameParam = Annotated[str, Path(pattern=NAME_PATTERN, description="The prompt's name.")]
LabelParam = Annotated[str, Path(pattern=LABEL_PATTERN, description="A label, e.g. `production`.")]
VersionParam = Annotated[int, Path(ge=1, le=2**31 - 1, description="A version number.")]
CursorParam = Annotated[
    str | None,
    Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page."),
]
LimitParam = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
IfNoneMatch = Annotated[
    str | None,
    Header(alias="If-None-Match", max_length=4000, description="ETags the caller holds."),
]
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` ETag is still current"}
}


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [t.strip().removeprefix("W/").strip('"') for t in header.split(",")]
    return "*" in tags or etag in tags


def with_etag(model: BaseModel, etag: str, if_none_match: str | None) -> Response:
    """The model with `ETag: "<etag>"`, or 304 when the caller's copy is current."""
    headers = {"ETag": f'"{etag}"'}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return JSONResponse(model.model_dump(mode="json"), headers=headers)

"""`/static/{name}`: the console's own CSS and JS and the vendored htmx, by name only."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from eco_shared.auth import PUBLIC
from eco_shared.problems import NotFound, problem_responses

STATIC = Path(__file__).resolve().parent.parent / "static"
TYPES = {
    ".svg": "image/svg+xml",
    ".js": "text/javascript",
    ".css": "text/css",
    ".txt": "text/plain",
    ".md": "text/plain",
}
FILES = {p.name: p for p in STATIC.iterdir() if p.suffix in TYPES}

router = APIRouter(tags=["static"], dependencies=[PUBLIC])


@router.get(
    "/static/{name}", summary="A static file of the console", responses=problem_responses(404)
)
async def static_file(name: str) -> FileResponse:
    path = FILES.get(name)
    if path is None:
        raise NotFound("File", name, f"No static file {name}.")
    return FileResponse(
        path,
        media_type=TYPES[path.suffix],
        headers={"Cache-Control": "public, max-age=3600"},
    )

"""A small real service on the shared app factory, for tests that need a service process.

`uvicorn --factory eco_shared.testing.example_service:create_app` (settings from
`ECO_EXAMPLE_*`). `GET /relay?to=URL` calls another service through the shared client, so a
chain of these processes makes one trace across several services. It has the rooms of a
real service in one file: settings, models, routes on the shared dependencies, errors from
the problem factories, declared in OpenAPI.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from eco_shared.app import create_service_app
from eco_shared.auth import PUBLIC, require
from eco_shared.deps import HttpDep, settings_getter
from eco_shared.problems import NotFound, problem_responses
from eco_shared.settings import ServiceSettings
from eco_shared.telemetry import current_trace_ids

log = structlog.get_logger(__name__)


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="ECO_EXAMPLE_", env_ignore_empty=True, extra="ignore", populate_by_name=True
    )

    service_name: str = "example"
    port: int = 0


SettingsDep = Annotated[ExampleSettings, Depends(settings_getter(ExampleSettings))]


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=0)


router = APIRouter(prefix="/items", tags=["items"])


@router.post(
    "",
    status_code=201,
    summary="Validate and echo an item",
    dependencies=[require("example:write")],
)
async def create_item(item: Item) -> Item:
    return item


@router.get(
    "/{item_id}",
    summary="Get an item (only 1 exists)",
    responses=problem_responses(404),
    dependencies=[require("example:read")],
)
async def get_item(item_id: int) -> Item:
    if item_id != 1:
        raise NotFound("Item", item_id, f"No item with id {item_id}.")
    return Item(name="one", quantity=1)


# open to anyone: a test service's crash and relay routes
misc = APIRouter(tags=["misc"], dependencies=[PUBLIC])


@misc.get("/crash", summary="Raise an unhandled error", responses=problem_responses(500))
async def crash() -> None:
    raise RuntimeError("secret internal detail")


@misc.get("/relay", summary="Call another service and report what it said")
async def relay(
    settings: SettingsDep,
    http: HttpDep,
    to: Annotated[list[str], Query()] = [],  # noqa: B006
) -> dict[str, object]:
    trace_id = current_trace_ids()[0]
    log.info("relay_called", remaining_hops=len(to))
    if not to:
        return {"service": settings.service_name, "hops": [], "trace_id": trace_id}
    first, rest = to[0], to[1:]
    params = [("to", url) for url in rest]
    response = await http.get(f"{first}/relay", params=params, operation="relay")
    return {"service": settings.service_name, "next": response.json(), "trace_id": trace_id}


def build_app(settings: ExampleSettings, *, configure_process: bool = True) -> FastAPI:
    """The example app for the given settings."""
    return create_service_app(settings, routers=[router, misc], configure_process=configure_process)


def create_app() -> FastAPI:
    """uvicorn factory: settings from the environment."""
    return build_app(ExampleSettings())

"""A service on the shared app factory with a slow route and a slow shutdown (test_graceful).

`uvicorn --factory _slow_service:create_app` with this directory on PYTHONPATH.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from eco_shared.app import ServiceState, create_service_app
from eco_shared.auth import PUBLIC
from eco_shared.settings import ServiceSettings


class SlowSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="ECO_SLOW_", env_ignore_empty=True, extra="ignore", populate_by_name=True
    )

    service_name: str = "slow"
    port: int = 0
    shutdown_s: float = Field(default=0.0, ge=0)


router = APIRouter(tags=["slow"], dependencies=[PUBLIC])  # a test service open to anyone


@router.get("/slow", summary="Answer after `seconds`, saying whether a stop began meanwhile")
async def slow(
    request: Request, seconds: float = Query(default=1.0, ge=0, le=60)
) -> dict[str, bool]:
    await asyncio.sleep(seconds)
    state: ServiceState = request.app.state.eco
    return {"stopping_seen": state.stopping.is_set()}


def create_app() -> FastAPI:
    settings = SlowSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI, state: ServiceState) -> AsyncIterator[None]:
        yield None
        # a long drain of the service's own work, which a second signal cuts short
        await asyncio.sleep(settings.shutdown_s)

    return create_service_app(settings, routers=[router], lifespan=lifespan)

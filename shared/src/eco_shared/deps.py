"""Route dependencies every service shares, and the makers of its own typed ones.

A service's `deps.py` uses the same alias names for the same things: `SettingsDep`,
`RedisDep`, `BusDep`, `HttpDep`, `DirectoryDep`, `ResourcesDep`, `SessionDep` (where it
has a SQL database) and `<Service>Dep` for its service object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

import redis.asyncio as aioredis
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from eco_shared.app import ServiceState
from eco_shared.bus import EventBus
from eco_shared.directory import ServiceDirectory
from eco_shared.http import ServiceClient
from eco_shared.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
R = TypeVar("R")


async def get_state(request: Request) -> ServiceState:
    """The running service's state."""
    state: ServiceState = request.app.state.eco
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_redis(state: StateDep) -> aioredis.Redis:
    """The service's Redis client."""
    return state.redis


async def get_bus(state: StateDep) -> EventBus:
    """The service's event bus."""
    return state.bus


async def get_http(state: StateDep) -> ServiceClient:
    """The shared HTTP client (takes `eco://<service>/<path>` URLs)."""
    return state.http


async def get_directory(state: StateDep) -> ServiceDirectory:
    """Other services by name."""
    return state.directory


RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
BusDep = Annotated[EventBus, Depends(get_bus)]
HttpDep = Annotated[ServiceClient, Depends(get_http)]
DirectoryDep = Annotated[ServiceDirectory, Depends(get_directory)]


def settings_getter(kind: type[S]) -> Callable[[Request], Awaitable[S]]:
    """A dependency returning the service's settings, checked to be of `kind`."""

    async def get_settings(request: Request) -> S:
        settings = (await get_state(request)).settings
        if not isinstance(settings, kind):
            raise RuntimeError(f"the app's settings are not {kind.__name__}")
        return settings

    get_settings.__name__ = f"get_{kind.__name__}"
    return get_settings


def resources_getter(kind: type[R]) -> Callable[[Request], Awaitable[R]]:
    """A dependency returning what the service's lifespan yielded, checked to be `kind`."""

    async def get_resources(request: Request) -> R:
        return (await get_state(request)).resources_as(kind)

    get_resources.__name__ = f"get_{kind.__name__}"
    return get_resources


def session_getter(
    engine_of: Callable[[Request], AsyncEngine],
) -> Callable[[Request], AsyncIterator[AsyncSession]]:
    """A dependency yielding one `AsyncSession` per request on the service's engine."""

    async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(engine_of(request), expire_on_commit=False) as session:
            yield session

    return get_session

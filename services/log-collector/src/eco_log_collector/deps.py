"""Dependencies of the routes: the service state, its settings and its database engine."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_log_collector.settings import LogCollectorSettings
from eco_shared.app import ServiceState


def get_state(request: Request) -> ServiceState:
    """The running service's state."""
    return cast(ServiceState, request.app.state.eco)


def get_settings(state: Annotated[ServiceState, Depends(get_state)]) -> LogCollectorSettings:
    """The collector's settings."""
    return cast(LogCollectorSettings, state.settings)


def get_engine(state: Annotated[ServiceState, Depends(get_state)]) -> AsyncEngine:
    """The database engine the lifespan opened."""
    return cast(AsyncEngine, state.resources["engine"])


State = Annotated[ServiceState, Depends(get_state)]
Settings = Annotated[LogCollectorSettings, Depends(get_settings)]
Engine = Annotated[AsyncEngine, Depends(get_engine)]

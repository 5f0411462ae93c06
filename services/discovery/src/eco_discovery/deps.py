"""Dependencies of the routes: the discovery service and the app state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from eco_discovery.service import DiscoveryService
from eco_discovery.settings import DiscoverySettings
from eco_shared.app import ServiceState


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.eco
    return state


async def get_discovery(request: Request) -> DiscoveryService:
    service: DiscoveryService = request.app.state.eco.resources["discovery"]
    return service


async def get_settings(request: Request) -> DiscoverySettings:
    settings: DiscoverySettings = request.app.state.eco.settings
    return settings


State = Annotated[ServiceState, Depends(get_state)]
Discovery = Annotated[DiscoveryService, Depends(get_discovery)]
Settings = Annotated[DiscoverySettings, Depends(get_settings)]

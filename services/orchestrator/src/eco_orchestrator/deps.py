"""Dependency aliases of the routes, named as in every service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from eco_orchestrator.service import Orchestrator
from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.state import Resources
from eco_shared.deps import BusDep, HttpDep, RedisDep, StateDep, resources_getter, settings_getter

__all__ = [
    "BusDep",
    "HttpDep",
    "OrchestratorDep",
    "RedisDep",
    "ResourcesDep",
    "SettingsDep",
    "StateDep",
]

SettingsDep = Annotated[OrchestratorSettings, Depends(settings_getter(OrchestratorSettings))]
ResourcesDep = Annotated[Resources, Depends(resources_getter(Resources))]


async def _orchestrator(resources: ResourcesDep) -> Orchestrator:
    return resources.orchestrator


OrchestratorDep = Annotated[Orchestrator, Depends(_orchestrator)]

"""Dependencies of the routes, under the names every service uses.

The routes need no SQL session of their own (the repository opens its connections), so
there is no `SessionDep`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from eco_log_collector.service import LogCollector
from eco_log_collector.settings import LogCollectorSettings
from eco_log_collector.state import Resources
from eco_shared.deps import (
    BusDep,
    HttpDep,
    RedisDep,
    StateDep,
    resources_getter,
    settings_getter,
)

__all__ = [
    "BusDep",
    "HttpDep",
    "LogCollectorDep",
    "RedisDep",
    "ResourcesDep",
    "SettingsDep",
    "StateDep",
]

SettingsDep = Annotated[LogCollectorSettings, Depends(settings_getter(LogCollectorSettings))]
ResourcesDep = Annotated[Resources, Depends(resources_getter(Resources))]


async def get_log_collector(resources: ResourcesDep) -> LogCollector:
    """The service object the lifespan built."""
    return resources.collector


LogCollectorDep = Annotated[LogCollector, Depends(get_log_collector)]

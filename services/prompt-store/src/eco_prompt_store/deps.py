"""FastAPI dependencies: the same alias names as in every service, and who may call.

`Reader` and `Writer` are the caller (`Principal`) of a route that needs `prompts:read`
or `prompts:write`; writes record the caller as author.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from eco_prompt_store.service import PromptStoreService, Watch
from eco_prompt_store.settings import PromptStoreSettings
from eco_prompt_store.state import Resources
from eco_shared.auth import Principal, require
from eco_shared.deps import BusDep, HttpDep, RedisDep, resources_getter, settings_getter

READ = "prompts:read"
WRITE = "prompts:write"

SettingsDep = Annotated[PromptStoreSettings, Depends(settings_getter(PromptStoreSettings))]
ResourcesDep = Annotated[Resources, Depends(resources_getter(Resources))]


async def get_service(resources: ResourcesDep) -> PromptStoreService:
    """The service object the lifespan built."""
    return resources.service


async def get_watch(resources: ResourcesDep) -> Watch:
    """The label-move feed the lifespan built."""
    return resources.watch


PromptStoreDep = Annotated[PromptStoreService, Depends(get_service)]
WatchDep = Annotated[Watch, Depends(get_watch)]
Reader = Annotated[Principal, require(READ)]
Writer = Annotated[Principal, require(WRITE)]

__all__ = [
    "READ",
    "WRITE",
    "BusDep",
    "HttpDep",
    "PromptStoreDep",
    "Reader",
    "RedisDep",
    "ResourcesDep",
    "SettingsDep",
    "WatchDep",
    "Writer",
]

"""FastAPI dependencies: the same alias names as in every service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from eco_doc_store.service import DocStoreService
from eco_doc_store.settings import DocStoreSettings
from eco_doc_store.state import Resources
from eco_shared.deps import BusDep, HttpDep, RedisDep, resources_getter, settings_getter

SettingsDep = Annotated[DocStoreSettings, Depends(settings_getter(DocStoreSettings))]
ResourcesDep = Annotated[Resources, Depends(resources_getter(Resources))]


def get_doc_store(resources: ResourcesDep) -> DocStoreService:
    """The service object the lifespan built."""
    return resources.doc_store


DocStoreDep = Annotated[DocStoreService, Depends(get_doc_store)]

__all__ = ["BusDep", "DocStoreDep", "HttpDep", "RedisDep", "ResourcesDep", "SettingsDep"]

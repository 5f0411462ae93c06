"""FastAPI dependencies: the same alias names as in every service, and who may call.

`Reader` and `Writer` are the caller (`Principal`) of a route that needs `docs:read` or
`docs:write`; every operation then limits itself to the documents that caller owns.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from eco_doc_store.bundle import Bundler
from eco_doc_store.service import DocStoreService
from eco_doc_store.settings import DocStoreSettings
from eco_doc_store.state import Resources
from eco_shared.auth import Principal, require
from eco_shared.deps import BusDep, HttpDep, RedisDep, resources_getter, settings_getter

SettingsDep = Annotated[DocStoreSettings, Depends(settings_getter(DocStoreSettings))]
ResourcesDep = Annotated[Resources, Depends(resources_getter(Resources))]


async def get_doc_store(resources: ResourcesDep) -> DocStoreService:
    """The service object the lifespan built."""
    return resources.doc_store


DocStoreDep = Annotated[DocStoreService, Depends(get_doc_store)]


async def get_bundles(resources: ResourcesDep) -> Bundler:
    """The RO-Crate bundler the lifespan built."""
    return resources.bundles


async def get_base_url(request: Request) -> str:
    """The URL this request reached the service at: absolute links in responses start here."""
    return str(request.base_url).rstrip("/")


BundlesDep = Annotated[Bundler, Depends(get_bundles)]
BaseUrlDep = Annotated[str, Depends(get_base_url)]
Reader = Annotated[Principal, require("docs:read")]
Writer = Annotated[Principal, require("docs:write")]

__all__ = [
    "BaseUrlDep",
    "BundlesDep",
    "BusDep",
    "DocStoreDep",
    "HttpDep",
    "Reader",
    "RedisDep",
    "ResourcesDep",
    "SettingsDep",
    "Writer",
]

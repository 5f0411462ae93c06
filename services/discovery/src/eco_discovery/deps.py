"""Dependencies of the routes, under the alias names every service uses."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from eco_discovery.service import DiscoveryService
from eco_discovery.service.issuer import Issuer, IssuerKeys, KeyManager
from eco_discovery.settings import DiscoverySettings
from eco_discovery.state import Resources
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
    "DiscoveryDep",
    "HttpDep",
    "IssuerDep",
    "IssuerKeysDep",
    "KeysDep",
    "RedisDep",
    "ResourcesDep",
    "SettingsDep",
    "StateDep",
]

SettingsDep = Annotated[DiscoverySettings, Depends(settings_getter(DiscoverySettings))]
ResourcesDep = Annotated[Resources, Depends(resources_getter(Resources))]


async def get_discovery(resources: ResourcesDep) -> DiscoveryService:
    """The discovery service object."""
    return resources.discovery


DiscoveryDep = Annotated[DiscoveryService, Depends(get_discovery)]


async def get_issuer(resources: ResourcesDep) -> Issuer:
    """The token issuer."""
    return resources.issuer


async def get_keys(resources: ResourcesDep) -> KeyManager:
    """The API key manager."""
    return resources.keys


async def get_signing_keys(resources: ResourcesDep) -> IssuerKeys:
    """The issuer's signing keys."""
    return resources.signing_keys


IssuerDep = Annotated[Issuer, Depends(get_issuer)]
KeysDep = Annotated[KeyManager, Depends(get_keys)]
IssuerKeysDep = Annotated[IssuerKeys, Depends(get_signing_keys)]

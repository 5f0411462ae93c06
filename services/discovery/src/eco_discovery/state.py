"""What discovery's lifespan opens: the repositories, the probe client, the service and
the issuer."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from eco_discovery.repository import CapabilityStore, EventFeed, Registry
from eco_discovery.service import DiscoveryService
from eco_discovery.service.issuer import Issuer, IssuerKeys, KeyManager


@dataclass(frozen=True, slots=True)
class Resources:
    """Discovery's own resources (the shared Redis, bus and HTTP client are on the state)."""

    registry: Registry
    capabilities: CapabilityStore
    events: EventFeed
    probe_client: httpx.AsyncClient
    discovery: DiscoveryService
    # the issuer (its own modules: it could move to a service of its own)
    issuer: Issuer
    keys: KeyManager
    signing_keys: IssuerKeys

"""The discovery service: app factory and how `eco up` runs it."""

from __future__ import annotations

from eco_shared.services import ServiceSpec

SERVICE = ServiceSpec(
    name="discovery",
    app="eco_discovery.main:create_app",
    port=5045,
    env_prefix="ECO_DISCOVERY_",
    order=0,
)

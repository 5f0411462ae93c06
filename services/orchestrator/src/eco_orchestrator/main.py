"""The orchestrator service: app factory and how `eco up` runs it."""

from __future__ import annotations

from eco_shared.services import ServiceSpec

SERVICE = ServiceSpec(
    name="orchestrator",
    app="eco_orchestrator.main:create_app",
    port=5099,
    env_prefix="ECO_ORCHESTRATOR_",
    order=40,
)

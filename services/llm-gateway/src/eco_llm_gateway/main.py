"""The llm-gateway service: app factory and how `eco up` runs it."""

from __future__ import annotations

from eco_shared.services import ServiceSpec

SERVICE = ServiceSpec(
    name="llm-gateway",
    app="eco_llm_gateway.main:create_app",
    port=5055,
    env_prefix="ECO_LLM_GATEWAY_",
    order=20,
)

"""What the gateway's lifespan opens, reached by routes through `ResourcesDep`."""

from __future__ import annotations

from dataclasses import dataclass

from eco_llm_gateway.providers import Provider
from eco_llm_gateway.repository import GatewayRepository
from eco_llm_gateway.service import Gateway


@dataclass(frozen=True, slots=True)
class Resources:
    """The providers, the Redis repository and the gateway built on them."""

    providers: dict[str, Provider]
    repository: GatewayRepository
    gateway: Gateway

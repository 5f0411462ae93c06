"""Dependencies routes use to reach what the lifespan opened."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from eco_llm_gateway.service import Gateway, caller_name
from eco_llm_gateway.settings import LlmGatewaySettings
from eco_llm_gateway.state import Resources
from eco_shared.deps import HttpDep, RedisDep, StateDep, resources_getter, settings_getter

__all__ = [
    "CallerDep",
    "HttpDep",
    "LlmGatewayDep",
    "RedisDep",
    "ResourcesDep",
    "SettingsDep",
    "StateDep",
]

SettingsDep = Annotated[LlmGatewaySettings, Depends(settings_getter(LlmGatewaySettings))]
ResourcesDep = Annotated[Resources, Depends(resources_getter(Resources))]


def get_gateway(resources: ResourcesDep) -> Gateway:
    """The gateway service object."""
    return resources.gateway


def get_caller(
    x_eco_caller: Annotated[
        str | None,
        Header(description="The calling service (the shared client sends it); for accounting."),
    ] = None,
) -> str:
    """The caller as accounted (`anonymous` without the header)."""
    return caller_name(x_eco_caller)


LlmGatewayDep = Annotated[Gateway, Depends(get_gateway)]
CallerDep = Annotated[str, Depends(get_caller)]

"""Dependencies routes use to reach what the lifespan opened."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from eco_llm_gateway.service import Gateway, caller_name
from eco_llm_gateway.settings import LlmGatewaySettings
from eco_shared.app import ServiceState
from eco_shared.http import ServiceClient


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.eco
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_gateway(state: StateDep) -> Gateway:
    gateway: Gateway = state.resources["gateway"]
    return gateway


def get_settings(state: StateDep) -> LlmGatewaySettings:
    settings = state.settings
    assert isinstance(settings, LlmGatewaySettings)
    return settings


def get_http(state: StateDep) -> ServiceClient:
    return state.http


def get_caller(
    x_eco_caller: Annotated[
        str | None,
        Header(description="The calling service (the shared client sends it); for accounting."),
    ] = None,
) -> str:
    return caller_name(x_eco_caller)


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
SettingsDep = Annotated[LlmGatewaySettings, Depends(get_settings)]
HttpDep = Annotated[ServiceClient, Depends(get_http)]
CallerDep = Annotated[str, Depends(get_caller)]

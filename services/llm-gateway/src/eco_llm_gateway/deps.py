"""Dependencies routes use to reach what the lifespan opened, and who may call them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from eco_llm_gateway.models import Caller
from eco_llm_gateway.service import Gateway
from eco_llm_gateway.settings import LlmGatewaySettings
from eco_llm_gateway.state import Resources
from eco_shared.auth import Principal, require
from eco_shared.deps import HttpDep, RedisDep, StateDep, resources_getter, settings_getter

__all__ = [
    "ChatCallerDep",
    "HttpDep",
    "LlmGatewayDep",
    "ReaderDep",
    "RedisDep",
    "ResourcesDep",
    "SettingsDep",
    "StateDep",
]

SettingsDep = Annotated[LlmGatewaySettings, Depends(settings_getter(LlmGatewaySettings))]
ResourcesDep = Annotated[Resources, Depends(resources_getter(Resources))]


# `async def` on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread
# hop per request for what is an attribute lookup.
async def get_gateway(resources: ResourcesDep) -> Gateway:
    """The gateway service object."""
    return resources.gateway


async def chat_caller(principal: Annotated[Principal, require("gateway:chat")]) -> Caller:
    """Who asks for a completion, as accounted and limited (from the token, nothing else)."""
    return Caller.of(principal)


LlmGatewayDep = Annotated[Gateway, Depends(get_gateway)]
# inference (chat, and the OpenAI-compatible routes that will join it): gateway:chat
ChatCallerDep = Annotated[Caller, Depends(chat_caller)]
# models, providers, one's own usage: gateway:read (everyone's usage: gateway:read:all)
ReaderDep = Annotated[Principal, require("gateway:read")]

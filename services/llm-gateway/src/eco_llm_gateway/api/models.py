"""`GET /v1/models`: what each configured provider offers."""

from __future__ import annotations

from fastapi import APIRouter

from eco_llm_gateway.deps import LlmGatewayDep
from eco_shared.models.llm_gateway import ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


# Reads only the configuration: no input to refuse, no dependency to be down.
@router.get("", summary="List the models of every configured provider (and `auto`)")
async def list_models(gateway: LlmGatewayDep) -> ModelList:
    """OpenAI's model list; ids are `provider/model`, plus `auto` for routed requests."""
    return gateway.models()

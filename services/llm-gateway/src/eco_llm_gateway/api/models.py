"""`GET /v1/models` and `GET /v1/models/{model}`: what each configured provider offers."""

from __future__ import annotations

from fastapi import APIRouter

from eco_llm_gateway.deps import LlmGatewayDep
from eco_shared.models.llm_gateway import ModelCard, ModelList
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/v1/models", tags=["models"])


# Reads only the configuration: no input to refuse, no dependency to be down.
@router.get("", summary="List the models of every configured provider (and `auto`)")
async def list_models(gateway: LlmGatewayDep) -> ModelList:
    """OpenAI's model list; ids are `provider/model`, plus `auto` for routed requests."""
    return gateway.models()


@router.get(
    "/{model:path}",
    summary="One model (`auto` or `provider/model`)",
    responses=problem_responses((404, "No such model")),
)
async def get_model(model: str, gateway: LlmGatewayDep) -> ModelCard:
    """OpenAI's model object, as `client.models.retrieve(id)` reads it."""
    return gateway.model(model)

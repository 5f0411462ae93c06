"""`GET /v1/models` and `GET /v1/models/{model}`: what each configured provider offers."""

from __future__ import annotations

from fastapi import APIRouter

from eco_llm_gateway.deps import LlmGatewayDep, ReaderDep
from eco_llm_gateway.models import Caller
from eco_shared.models.llm_gateway import ModelCard, ModelList
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/v1/models", tags=["models"])


# Reads only the configuration: no input to refuse, no dependency to be down.
@router.get("", summary="List the models of every configured provider (and `auto`)")
async def list_models(gateway: LlmGatewayDep, principal: ReaderDep) -> ModelList:
    """OpenAI's model list; ids are `provider/model`, plus `auto` for routed requests; only
    the models the caller's API key allows."""
    return gateway.models(Caller.of(principal))


@router.get(
    "/{model:path}",
    summary="One model (`auto` or `provider/model`)",
    responses=problem_responses(
        (403, "The token lacks gateway:read, or its API key does not allow the model"),
        (404, "No such model"),
    ),
)
async def get_model(model: str, gateway: LlmGatewayDep, principal: ReaderDep) -> ModelCard:
    """OpenAI's model object, as `client.models.retrieve(id)` reads it."""
    return gateway.model(model, Caller.of(principal))

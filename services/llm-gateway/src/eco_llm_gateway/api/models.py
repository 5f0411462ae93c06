"""`GET /v1/models`: what each configured provider offers."""

from __future__ import annotations

from fastapi import APIRouter

from eco_llm_gateway.deps import GatewayDep
from eco_llm_gateway.models import ModelCard, ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", summary="List the models of every configured provider (and `auto`)")
async def list_models(gateway: GatewayDep) -> ModelList:
    """OpenAI's model list; ids are `provider/model`, plus `auto` for routed requests."""
    cards = [
        ModelCard(id="auto", owned_by="llm-gateway", provider="auto", kind="router", local=False)
    ]
    for provider in gateway.providers.values():
        for model in provider.models:
            cards.append(
                ModelCard(
                    id=f"{provider.name}/{model}",
                    owned_by=provider.name,
                    provider=provider.name,
                    kind=provider.kind,
                    local=provider.local,
                )
            )
    return ModelList(data=cards)

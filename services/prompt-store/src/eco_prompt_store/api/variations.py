"""`/prompts/{name}/versions/{version}/variations`: rewrites written by a model.

Needs `prompts:write`; the store asks the LLM gateway with its own token (`gateway:chat`).
The variations are stored as unlabelled versions: `latest` does not move to them and only
a label move (or an experiment's promotion) ever serves one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from eco_prompt_store.api._http import NameParam, VersionParam
from eco_prompt_store.deps import PromptStoreDep, Writer
from eco_shared.adapters.llm_gateway import LlmGatewayAdapter
from eco_shared.deps import DirectoryDep, HttpDep
from eco_shared.models.prompt_experiments import VariationList, VariationRequest
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/prompts/{name}/versions/{version}", tags=["variations"])


async def get_gateway(http: HttpDep, directory: DirectoryDep) -> LlmGatewayAdapter:
    """The LLM gateway, found through discovery."""
    return LlmGatewayAdapter(http, directory)


LlmGatewayDep = Annotated[LlmGatewayAdapter, Depends(get_gateway)]


@router.post(
    "/variations",
    status_code=201,
    summary="Generate rewrites of a version through the LLM gateway (stored unlabelled)",
    responses=problem_responses(
        (400, "The gateway refused the request (model, parameters)"),
        (404, "No prompt of that name, or no such version"),
        422,
        (502, "The model's answer is not usable rewrites, or the gateway failed: none stored"),
        (503, "The gateway cannot be reached"),
    ),
)
async def create_variations(
    caller: Writer,
    name: NameParam,
    version: VersionParam,
    body: VariationRequest,
    prompts: PromptStoreDep,
    gateway: LlmGatewayDep,
) -> VariationList:
    return await prompts.variations(caller, name, version, body, gateway)

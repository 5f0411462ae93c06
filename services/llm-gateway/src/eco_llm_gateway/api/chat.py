"""`POST /v1/chat/completions` in OpenAI's shape, with server-sent-event streaming."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from eco_llm_gateway.deps import CallerDep, GatewayDep
from eco_llm_gateway.models import ChatCompletion, ChatCompletionRequest, EcoInfo

router = APIRouter(prefix="/v1/chat", tags=["chat"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def _headers(eco: EcoInfo | dict[str, Any]) -> dict[str, str]:
    info = eco if isinstance(eco, EcoInfo) else EcoInfo.model_validate(eco)
    reason = info.route.reason.encode("ascii", "replace").decode()[:500]
    return {
        "X-Eco-Provider": info.provider,
        "X-Eco-Model": f"{info.provider}/{info.model}",
        "X-Eco-Cache": "hit" if info.cache_hit else "miss",
        "X-Eco-Route": reason,
    }


@router.post(
    "/completions",
    response_model=ChatCompletion,
    summary="Create a chat completion (OpenAI-compatible; stream=true for server-sent events)",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The completion or its stream"},
        404: {**_PROBLEM, "description": "Unknown model or provider"},
        413: {**_PROBLEM, "description": "Prompt over the configured size"},
        422: {
            **_PROBLEM,
            "description": "Invalid request, or sensitive content and no local provider",
        },
        429: {**_PROBLEM, "description": "Caller over its rate limit (Retry-After)"},
        502: {**_PROBLEM, "description": "A provider answered garbage (named), fallback tried"},
        503: {**_PROBLEM, "description": "No provider could answer"},
    },
    openapi_extra={"x-eco-intent": "ask a language model; classify, extract, summarize, outline"},
)
async def create_chat_completion(
    body: ChatCompletionRequest, gateway: GatewayDep, caller: CallerDep
) -> Response:
    """Route the request to a provider (or the cache) and answer in OpenAI's shape."""
    plan = await gateway.plan(body, caller)
    if body.stream:
        start = await gateway.open_stream(plan)
        assert start.candidate is not None
        eco = gateway.eco_info(plan, start.candidate, start.attempts, start.cache_hit)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return EventSourceResponse(
            gateway.sse(start, include_usage),
            headers={**_headers(eco), "Cache-Control": "no-cache"},
            ping=15,
            sep="\n",
        )
    completion = await gateway.complete(plan)
    return JSONResponse(completion.model_dump(mode="json"), headers=_headers(completion.eco))

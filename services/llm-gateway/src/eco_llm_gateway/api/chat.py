"""`POST /v1/chat/completions` in OpenAI's shape, with server-sent-event streaming; errors
in OpenAI's shape too (`openai_errors`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse

from eco_llm_gateway.deps import ChatCallerDep, LlmGatewayDep
from eco_shared.models.llm_gateway import ChatCompletion, ChatCompletionRequest, EcoInfo
from eco_shared.problems import problem_responses

router = APIRouter(prefix="/v1/chat", tags=["chat"])


def _headers(info: EcoInfo) -> dict[str, str]:
    reason = info.route.reason.encode("ascii", "replace").decode()[:500]
    return {
        "X-Eco-Provider": info.provider,
        "X-Eco-Model": f"{info.provider}/{info.model}",
        "X-Eco-Cache": "hit" if info.cache_hit else "miss",
        "X-Eco-Route": reason,
        **({"X-Eco-Dropped-Params": ",".join(info.dropped_params)} if info.dropped_params else {}),
    }


@router.post(
    "/completions",
    response_model=ChatCompletion,
    summary="Create a chat completion (OpenAI-compatible; stream=true for server-sent events)",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The completion or its stream"},
        **problem_responses(
            (
                400,
                "Malformed JSON, an invalid or unsupported parameter (named in `param`), an "
                "invalid task spec, or sensitive content and no local provider",
            ),
            (401, "No valid token for the llm-gateway"),
            (403, "The token lacks gateway:chat, or its API key does not allow the model"),
            (404, "Unknown model or provider"),
            (413, "Prompt over the configured size"),
            (429, "The caller is over its rate limit, or its API key's token budget is spent"),
            (502, "A provider answered garbage (named), fallback tried"),
            (503, "No provider could answer"),
        ),
    },
    openapi_extra={"x-eco-intent": "ask a language model; classify, extract, summarize, outline"},
)
async def create_chat_completion(
    body: ChatCompletionRequest, gateway: LlmGatewayDep, caller: ChatCallerDep
) -> Response:
    """Route the request to a provider (or the cache) and answer in OpenAI's shape."""
    plan = await gateway.plan(body, caller)
    if body.stream:
        start = await gateway.open_stream(plan)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return EventSourceResponse(
            gateway.sse(start, include_usage),
            headers={**_headers(gateway.stream_info(start)), "Cache-Control": "no-cache"},
            ping=15,
            sep="\n",
        )
    completion = await gateway.complete(plan)
    return JSONResponse(completion.model_dump(mode="json"), headers=_headers(completion.eco))

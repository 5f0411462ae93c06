"""Typed client of the llm-gateway: chat completions, the structured tasks, usage.

The wire models live in `eco_shared.models.llm_gateway` (the service answers with them) and
are re-exported here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from eco_shared.adapters._base import AdapterError, BaseServiceAdapter, operation
from eco_shared.models.llm_gateway import (
    AssistantMessage,
    Attempt,
    CallerUsage,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    EcoInfo,
    Finding,
    LatencyStats,
    ModelCard,
    ModelList,
    OpenAIError,
    OpenAIErrorDetail,
    ProbeResult,
    ProviderList,
    ProviderStatus,
    ResponseFormat,
    Route,
    Sensitivity,
    StreamOptions,
    TextPart,
    Usage,
    UsageLog,
    UsageLogEntry,
    UsageRecord,
    UsageReport,
    UsageTotals,
)

CHAT_PATH = "/v1/chat/completions"

__all__ = [
    "CHAT_PATH",
    "AssistantMessage",
    "Attempt",
    "CallerUsage",
    "ChatCompletion",
    "ChatCompletionRequest",
    "ChatMessage",
    "ChatResult",
    "Choice",
    "EcoInfo",
    "Finding",
    "LatencyStats",
    "LlmGatewayAdapter",
    "ModelCard",
    "ModelList",
    "OpenAIError",
    "OpenAIErrorDetail",
    "ProbeResult",
    "ProviderList",
    "ProviderStatus",
    "ResponseFormat",
    "Route",
    "Sensitivity",
    "StreamOptions",
    "TextPart",
    "Usage",
    "UsageLog",
    "UsageLogEntry",
    "UsageRecord",
    "UsageReport",
    "UsageTotals",
]


class ChatResult(BaseModel):
    """One completion: the answer and the gateway's account of who gave it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    model: str
    content: str
    finish_reason: str
    usage: Usage
    eco: EcoInfo

    @classmethod
    def of(cls, completion: ChatCompletion) -> ChatResult:
        """The first (only) choice of a completion."""
        choice = completion.choices[0]
        return cls(
            id=completion.id,
            model=completion.model,
            content=choice.message.content,
            finish_reason=choice.finish_reason,
            usage=completion.usage,
            eco=completion.eco,
        )

    @property
    def provider(self) -> str:
        """The provider that answered (`offline`, `openai`, ...)."""
        return self.eco.provider

    @property
    def cache_hit(self) -> bool:
        return self.eco.cache_hit

    def json_content(self) -> dict[str, Any]:
        """The answer parsed as the JSON object a structured task returns."""
        data = json.loads(self.content)
        if not isinstance(data, dict):
            raise ValueError("the answer is not a JSON object")
        return data


class LlmGatewayAdapter(BaseServiceAdapter):
    """The llm-gateway, found through discovery as `llm-gateway`.

    The `ServiceClient` carries the caller's token for `llm-gateway` (`gateway:chat` for
    completions and tasks, `gateway:read` for models, providers and one's own usage). Errors
    raise `AdapterError` whose `problem` is the gateway's problem details (read from its
    OpenAI-shaped error bodies by `eco_shared.http.read_problem`): 400 (invalid or
    unsupported parameter, `param` names it; task spec; sensitive content without a local
    provider), 401 (no valid token), 403 (a missing scope; a model the API key does not
    allow), 404 (unknown model), 413, 429 (rate limit, or the API key's token budget spent),
    502 (a provider answered garbage) and 503 (no provider could answer).
    """

    service_name: ClassVar[str] = "llm-gateway"

    async def _complete(self, request: ChatCompletionRequest, operation: str) -> ChatCompletion:
        body = request.model_dump(mode="json", exclude_unset=True, exclude_none=True)
        response = await self._request("POST", CHAT_PATH, operation=operation, json=body)
        return ChatCompletion.model_validate(response.json())

    @operation("POST", CHAT_PATH, body=True, response=ChatCompletion)
    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str = "auto",
        temperature: float | None = None,
        max_tokens: int | None = None,
        json_mode: bool = False,
        cache: bool | None = None,
    ) -> ChatResult:
        """A chat completion (not streamed)."""
        request = ChatCompletionRequest(
            model=model,
            messages=[ChatMessage.model_validate(m) for m in messages],
            temperature=temperature,
            max_tokens=max_tokens,
            cache=cache,
            response_format=ResponseFormat(type="json_object") if json_mode else None,
        )
        return ChatResult.of(await self._complete(request, "chat"))

    async def _task(
        self, spec: dict[str, Any], text: str, model: str, operation_name: str
    ) -> dict[str, Any]:
        request = ChatCompletionRequest(
            model=model,
            temperature=0,
            response_format=ResponseFormat(type="json_object"),
            messages=[
                ChatMessage(role="system", content=json.dumps(spec)),
                ChatMessage(role="user", content=text),
            ],
        )
        completion = await self._complete(request, operation_name)
        try:
            answer = json.loads(completion.choices[0].message.content)
        except (IndexError, ValueError) as exc:
            raise AdapterError(
                self.service_name, 502, {"detail": f"not a task answer: {exc}"}
            ) from exc
        if not isinstance(answer, dict):
            raise AdapterError(self.service_name, 502, {"detail": "the answer is not an object"})
        answer.setdefault("task", spec["task"])
        answer["_eco"] = completion.eco.model_dump(mode="json")
        return answer

    @operation("POST", CHAT_PATH, body=True, response=ChatCompletion)
    async def classify(
        self, text: str, labels: list[str] | list[dict[str, Any]], *, model: str = "auto"
    ) -> dict[str, Any]:
        """`{"label", "confidence", "scores", ...}` for `text` against `labels`."""
        return await self._task({"task": "classify", "labels": labels}, text, model, "classify")

    @operation("POST", CHAT_PATH, body=True, response=ChatCompletion)
    async def extract_entities(
        self,
        text: str,
        *,
        types: list[str] | None = None,
        services: list[str] | None = None,
        now: datetime | None = None,
        model: str = "auto",
    ) -> dict[str, Any]:
        """`{"entities": [{"type", "text", "start", "end", "value"}]}` found in `text`."""
        spec: dict[str, Any] = {"task": "extract_entities"}
        if types:
            spec["types"] = types
        if services:
            spec["services"] = services
        if now is not None:
            spec["now"] = now.isoformat()
        return await self._task(spec, text, model, "extract_entities")

    @operation("POST", CHAT_PATH, body=True, response=ChatCompletion)
    async def summarize(
        self, text: str, *, max_sentences: int | None = None, model: str = "auto"
    ) -> dict[str, Any]:
        """`{"summary", "sentences"}` of `text`."""
        spec: dict[str, Any] = {"task": "summarize"}
        if max_sentences is not None:
            spec["max_sentences"] = max_sentences
        return await self._task(spec, text, model, "summarize")

    @operation("POST", CHAT_PATH, body=True, response=ChatCompletion)
    async def outline(
        self, text: str, *, max_sections: int | None = None, model: str = "auto"
    ) -> dict[str, Any]:
        """`{"title", "sections": [{"heading", "points"}]}` of `text`."""
        spec: dict[str, Any] = {"task": "outline"}
        if max_sections is not None:
            spec["max_sections"] = max_sections
        return await self._task(spec, text, model, "outline")

    @operation("GET", "/v1/models", response=ModelList)
    async def models(self) -> list[ModelCard]:
        """Every model the configured providers offer (ids `provider/model`, and `auto`)."""
        response = await self._request("GET", "/v1/models", operation="models")
        return ModelList.model_validate(response.json()).data

    @operation("GET", "/v1/models/{model}", response=ModelCard)
    async def model(self, model: str) -> ModelCard | None:
        """One model (`auto` or `provider/model`), or None when no provider offers it."""
        try:
            response = await self._request(
                "GET", "/v1/models/{model}", operation="model", path_params={"model": model}
            )
        except AdapterError as exc:
            if exc.status == 404:
                return None
            raise
        return ModelCard.model_validate(response.json())

    @operation("GET", "/v1/providers", query=("probe",), response=ProviderList)
    async def providers(self, *, probe: bool = False) -> ProviderList:
        """Health, latency and error rate of each provider."""
        response = await self._request(
            "GET", "/v1/providers", operation="providers", params={"probe": str(probe).lower()}
        )
        return ProviderList.model_validate(response.json())

    @operation("GET", "/v1/usage", query=("caller", "since", "provider"), response=UsageReport)
    async def usage(
        self, *, caller: str | None = None, since: str | None = None, provider: str | None = None
    ) -> UsageReport:
        """Calls, tokens, estimated cost and cache hits by caller and provider (the caller's
        own, unless its token holds `gateway:read:all`)."""
        params = {
            k: v for k, v in {"caller": caller, "since": since, "provider": provider}.items() if v
        }
        response = await self._request("GET", "/v1/usage", operation="usage", params=params)
        return UsageReport.model_validate(response.json())

    @operation(
        "GET", "/v1/usage/log", query=("caller", "since", "limit", "run_id"), response=UsageLog
    )
    async def usage_log(
        self,
        *,
        caller: str | None = None,
        since: str | None = None,
        limit: int = 100,
        run_id: str | None = None,
    ) -> list[UsageLogEntry]:
        """The newest calls (of one run, with `run_id`), each with its classification and route."""
        params: dict[str, Any] = {"limit": limit}
        if caller:
            params["caller"] = caller
        if since:
            params["since"] = since
        if run_id:
            params["run_id"] = run_id
        response = await self._request("GET", "/v1/usage/log", operation="usage_log", params=params)
        return UsageLog.model_validate(response.json()).entries

"""Typed client of the llm-gateway: chat completions, the structured tasks, usage."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from eco_shared.adapters._base import AdapterError, BaseServiceAdapter, operation

CHAT_PATH = "/v1/chat/completions"


class ChatResult(BaseModel):
    """One completion: the answer and the gateway's account of who gave it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    model: str
    content: str
    finish_reason: str
    usage: dict[str, int]
    eco: dict[str, Any] = Field(default_factory=dict)

    @property
    def provider(self) -> str:
        """The provider that answered (`offline`, `openai`, ...)."""
        return str(self.eco.get("provider", ""))

    @property
    def cache_hit(self) -> bool:
        return bool(self.eco.get("cache_hit", False))

    def json_content(self) -> dict[str, Any]:
        """The answer parsed as the JSON object a structured task returns."""
        data = json.loads(self.content)
        if not isinstance(data, dict):
            raise ValueError("the answer is not a JSON object")
        return data


class LlmGatewayAdapter(BaseServiceAdapter):
    """The llm-gateway, found through discovery as `llm-gateway`."""

    service_name: ClassVar[str] = "llm-gateway"

    @operation("POST", CHAT_PATH, body=True)
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
        body: dict[str, Any] = {"model": model, "messages": messages}
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        if cache is not None:
            body["cache"] = cache
        response = await self._request("POST", CHAT_PATH, operation="chat", json=body)
        data = response.json()
        choice = data["choices"][0]
        return ChatResult(
            id=data["id"],
            model=data["model"],
            content=choice["message"]["content"],
            finish_reason=choice["finish_reason"],
            usage=data["usage"],
            eco=data.get("eco") or {},
        )

    async def _task(
        self, spec: dict[str, Any], text: str, model: str, operation_name: str
    ) -> dict[str, Any]:
        body = {
            "model": model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": json.dumps(spec)},
                {"role": "user", "content": text},
            ],
        }
        response = await self._request("POST", CHAT_PATH, operation=operation_name, json=body)
        data = response.json()
        try:
            answer = json.loads(data["choices"][0]["message"]["content"])
        except (KeyError, IndexError, ValueError) as exc:
            raise AdapterError(
                self.service_name, 502, {"detail": f"not a task answer: {exc}"}
            ) from exc
        if not isinstance(answer, dict):
            raise AdapterError(self.service_name, 502, {"detail": "the answer is not an object"})
        answer.setdefault("task", spec["task"])
        answer["_eco"] = data.get("eco") or {}
        return answer

    @operation("POST", CHAT_PATH, body=True)
    async def classify(
        self, text: str, labels: list[str] | list[dict[str, Any]], *, model: str = "auto"
    ) -> dict[str, Any]:
        """`{"label", "confidence", "scores", ...}` for `text` against `labels`."""
        return await self._task({"task": "classify", "labels": labels}, text, model, "classify")

    @operation("POST", CHAT_PATH, body=True)
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

    @operation("POST", CHAT_PATH, body=True)
    async def summarize(
        self, text: str, *, max_sentences: int | None = None, model: str = "auto"
    ) -> dict[str, Any]:
        """`{"summary", "sentences"}` of `text`."""
        spec: dict[str, Any] = {"task": "summarize"}
        if max_sentences is not None:
            spec["max_sentences"] = max_sentences
        return await self._task(spec, text, model, "summarize")

    @operation("POST", CHAT_PATH, body=True)
    async def outline(
        self, text: str, *, max_sections: int | None = None, model: str = "auto"
    ) -> dict[str, Any]:
        """`{"title", "sections": [{"heading", "points"}]}` of `text`."""
        spec: dict[str, Any] = {"task": "outline"}
        if max_sections is not None:
            spec["max_sections"] = max_sections
        return await self._task(spec, text, model, "outline")

    @operation("GET", "/v1/models")
    async def models(self) -> list[dict[str, Any]]:
        """Every model the configured providers offer (ids `provider/model`, and `auto`)."""
        response = await self._request("GET", "/v1/models", operation="models")
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    @operation("GET", "/v1/providers", query=("probe",))
    async def providers(self, *, probe: bool = False) -> dict[str, Any]:
        """Health, latency and error rate of each provider."""
        response = await self._request(
            "GET", "/v1/providers", operation="providers", params={"probe": str(probe).lower()}
        )
        body: dict[str, Any] = response.json()
        return body

    @operation("GET", "/v1/usage", query=("caller", "since", "provider"))
    async def usage(
        self, *, caller: str | None = None, since: str | None = None, provider: str | None = None
    ) -> dict[str, Any]:
        """Calls, tokens, estimated cost and cache hits by caller and provider."""
        params = {
            k: v for k, v in {"caller": caller, "since": since, "provider": provider}.items() if v
        }
        response = await self._request("GET", "/v1/usage", operation="usage", params=params)
        body: dict[str, Any] = response.json()
        return body

    @operation("GET", "/v1/usage/log", query=("caller", "since", "limit"))
    async def usage_log(
        self, *, caller: str | None = None, since: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The newest calls, each with its classification and routing decision."""
        params: dict[str, Any] = {"limit": limit}
        if caller:
            params["caller"] = caller
        if since:
            params["since"] = since
        response = await self._request("GET", "/v1/usage/log", operation="usage_log", params=params)
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries

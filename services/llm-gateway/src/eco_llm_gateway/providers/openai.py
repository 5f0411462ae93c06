"""Any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from eco_llm_gateway.providers._base import (
    ProviderChunk,
    ProviderRequest,
    ProviderResponse,
    ProviderUsage,
    count_tokens,
)
from eco_llm_gateway.providers._remote import RemoteProvider, with_instructions
from eco_shared.sse import aiter_sse


class OpenAIProvider(RemoteProvider):
    """`POST {base_url}/chat/completions`, streamed as server-sent events."""

    kind = "openai"
    honours = frozenset({"seed", "presence_penalty", "frequency_penalty", "logit_bias"})

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "application/json"}
        if self.config.api_key is not None:
            headers["authorization"] = f"Bearer {self.config.api_key.get_secret_value()}"
        return headers

    def _error_message(self, body: Any) -> tuple[str | None, str | None]:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return error.get("type") or error.get("code"), error.get("message")
        if isinstance(error, str):  # Ollama and llama.cpp answer {"error": "..."}
            return None, error
        return None, None

    def _body(self, request: ProviderRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [
                {"role": m.role, "content": m.content} for m in with_instructions(request)
            ],
            "stream": stream,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.stop:
            body["stop"] = list(request.stop)
        for name in ("seed", "presence_penalty", "frequency_penalty"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if request.logit_bias:
            body["logit_bias"] = dict(request.logit_bias)
        if request.json_mode or request.task is not None:
            body["response_format"] = {"type": "json_object"}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _prompt_tokens(self, request: ProviderRequest) -> int:
        return sum(count_tokens(m.content) for m in with_instructions(request))

    def _usage(self, data: Any, request: ProviderRequest, content: str) -> ProviderUsage:
        if isinstance(data, dict):
            prompt, completion = data.get("prompt_tokens"), data.get("completion_tokens")
            if isinstance(prompt, int) and isinstance(completion, int):
                return ProviderUsage(prompt, completion)
        return ProviderUsage(self._prompt_tokens(request), count_tokens(content))

    async def chat(self, request: ProviderRequest) -> ProviderResponse:
        """One completion."""
        response = await self._send(
            "POST",
            f"{self.base_url}/chat/completions",
            operation="chat_completions",
            json=self._body(request, stream=False),
        )
        data = self._json(response)
        try:
            choice = data["choices"][0]
            content = choice["message"]["content"]
            finish = choice.get("finish_reason") or "stop"
        except (KeyError, IndexError, TypeError) as exc:
            raise self.error(
                "bad_response", f"no choices[0].message in the answer: {exc!r}"
            ) from exc
        if not isinstance(content, str):
            raise self.error("bad_response", "choices[0].message.content is not text")
        return ProviderResponse(
            content=content,
            finish_reason=str(finish),
            usage=self._usage(data.get("usage"), request, content),
            model=str(data.get("model") or request.model),
        )

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderChunk]:
        """Chunks of `chat.completion.chunk` events until `[DONE]`."""
        response = await self._send(
            "POST",
            f"{self.base_url}/chat/completions",
            operation="chat_completions",
            stream=True,
            json=self._body(request, stream=True),
        )
        content: list[str] = []
        finish: str | None = None
        usage: Any = None
        done = False
        try:
            async for sse in aiter_sse(response.aiter_lines()):
                data = sse.data
                if data.strip() == "[DONE]":
                    done = True
                    break
                event = self._event_json(data)
                if "error" in event:
                    kind, message = self._error_message(event)
                    raise self.error("server_error", f"error in the stream: {kind}: {message}")
                if event.get("usage"):
                    usage = event["usage"]
                choices = event.get("choices")
                if not isinstance(choices, list):
                    raise self.error("bad_response", "a stream chunk has no choices")
                if not choices:
                    continue
                delta = choices[0].get("delta") or {}
                piece = delta.get("content") or ""
                if not isinstance(piece, str):
                    raise self.error("bad_response", "a stream chunk's content is not text")
                if choices[0].get("finish_reason"):
                    finish = str(choices[0]["finish_reason"])
                if piece:
                    content.append(piece)
                    yield ProviderChunk(content=piece)
        except httpx.HTTPError as exc:
            raise self._stream_failure(exc) from exc
        finally:
            await response.aclose()
        if not done and finish is None:
            raise self.error("bad_response", "the stream ended before [DONE]")
        yield ProviderChunk(
            finish_reason=finish or "stop", usage=self._usage(usage, request, "".join(content))
        )

    async def check(self) -> None:
        """`GET {base_url}/models` answers."""
        response = await self._send("GET", f"{self.base_url}/models", operation="list_models")
        self._json(response)

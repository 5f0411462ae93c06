"""Anthropic's Messages API (`POST /v1/messages`), streamed as server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from eco_llm_gateway.providers._base import (
    ErrorKind,
    ProviderChunk,
    ProviderRequest,
    ProviderResponse,
    ProviderUsage,
    count_tokens,
)
from eco_llm_gateway.providers._remote import RemoteProvider, with_instructions
from eco_shared.sse import aiter_sse

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # the Messages API requires max_tokens
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}
_ERROR_KINDS: dict[str, ErrorKind] = {
    "rate_limit_error": "rate_limited",
    "overloaded_error": "server_error",
    "api_error": "server_error",
    "timeout_error": "timeout",
}


class AnthropicProvider(RemoteProvider):
    """Claude models through the Messages API."""

    kind = "anthropic"

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION, "accept": "application/json"}
        if self.config.api_key is not None:
            headers["x-api-key"] = self.config.api_key.get_secret_value()
        return headers

    def _error_message(self, body: Any) -> tuple[str | None, str | None]:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return error.get("type"), error.get("message")
        return None, None

    def _body(self, request: ProviderRequest, stream: bool) -> dict[str, Any]:
        messages = with_instructions(request)
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        turns: list[dict[str, str]] = []
        for m in messages:
            if m.role == "system":
                continue
            if turns and turns[-1]["role"] == m.role:
                # The Messages API wants alternating turns: merge neighbours of one role.
                turns[-1]["content"] += "\n\n" + m.content
            else:
                turns.append({"role": m.role, "content": m.content})
        if not turns or turns[0]["role"] != "user":
            raise self.error("rejected", "the Messages API needs a user message first")
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": turns,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = min(request.temperature, 1.0)  # Anthropic's range is 0..1
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if stream:
            body["stream"] = True
        return body

    def _estimate(self, request: ProviderRequest, content: str) -> ProviderUsage:
        prompt = sum(count_tokens(m.content) for m in with_instructions(request))
        return ProviderUsage(prompt, count_tokens(content))

    async def chat(self, request: ProviderRequest) -> ProviderResponse:
        """One message."""
        response = await self._send(
            "POST",
            f"{self.base_url}/v1/messages",
            operation="messages",
            json=self._body(request, stream=False),
        )
        data = self._json(response)
        blocks = data.get("content")
        if data.get("type") != "message" or not isinstance(blocks, list):
            raise self.error("bad_response", "the answer is not a Messages API message")
        try:
            content = "".join(b["text"] for b in blocks if b.get("type") == "text")
        except (KeyError, TypeError, AttributeError) as exc:
            raise self.error("bad_response", f"a content block is malformed: {exc!r}") from exc
        usage = data.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("input_tokens"), int):
            counted = ProviderUsage(usage["input_tokens"], int(usage.get("output_tokens") or 0))
        else:
            counted = self._estimate(request, content)
        return ProviderResponse(
            content=content,
            finish_reason=_STOP_REASONS.get(str(data.get("stop_reason")), "stop"),
            usage=counted,
            model=str(data.get("model") or request.model),
        )

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderChunk]:
        """Text deltas from `content_block_delta` events until `message_stop`."""
        response = await self._send(
            "POST",
            f"{self.base_url}/v1/messages",
            operation="messages",
            stream=True,
            json=self._body(request, stream=True),
        )
        content: list[str] = []
        input_tokens: int | None = None
        output_tokens: int | None = None
        stop_reason: str | None = None
        stopped = False
        try:
            async for sse in aiter_sse(response.aiter_lines()):
                event_name, data = sse.event, sse.data
                event = self._event_json(data)
                kind = event.get("type") or event_name
                if kind == "error":
                    error_type, message = self._error_message(event)
                    raise self.error(
                        _ERROR_KINDS.get(error_type or "", "server_error"),
                        f"error in the stream: {error_type}: {message}",
                    )
                if kind == "message_start":
                    usage = (event.get("message") or {}).get("usage") or {}
                    if isinstance(usage.get("input_tokens"), int):
                        input_tokens = usage["input_tokens"]
                elif kind == "content_block_delta":
                    delta = event.get("delta") or {}
                    if delta.get("type") == "text_delta":
                        piece = delta.get("text")
                        if not isinstance(piece, str):
                            raise self.error("bad_response", "a text delta carries no text")
                        content.append(piece)
                        yield ProviderChunk(content=piece)
                elif kind == "message_delta":
                    stop_reason = (event.get("delta") or {}).get("stop_reason") or stop_reason
                    usage = event.get("usage") or {}
                    if isinstance(usage.get("output_tokens"), int):
                        output_tokens = usage["output_tokens"]
                elif kind == "message_stop":
                    stopped = True
                    break
        except httpx.HTTPError as exc:
            raise self._stream_failure(exc) from exc
        finally:
            await response.aclose()
        if not stopped:
            raise self.error("bad_response", "the stream ended before message_stop")
        text = "".join(content)
        estimate = self._estimate(request, text)
        yield ProviderChunk(
            finish_reason=_STOP_REASONS.get(str(stop_reason), "stop"),
            usage=ProviderUsage(
                input_tokens if input_tokens is not None else estimate.prompt_tokens,
                output_tokens if output_tokens is not None else estimate.completion_tokens,
            ),
        )

    async def check(self) -> None:
        """`GET {base_url}/v1/models` answers."""
        response = await self._send("GET", f"{self.base_url}/v1/models", operation="list_models")
        self._json(response)

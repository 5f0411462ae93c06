"""What the OpenAI and Anthropic providers share: calls through the shared client, SSE, errors."""

from __future__ import annotations

import json
from typing import Any

import httpx

from eco_llm_gateway.protocol import JSON_INSTRUCTION, instruction
from eco_llm_gateway.providers._base import Message, Provider, ProviderError, ProviderRequest
from eco_llm_gateway.settings import ProviderConfig
from eco_shared.http import (
    CircuitOpenError,
    ServiceCallError,
    ServiceClient,
    ServiceUnavailableError,
    retry_after_s,
)


def with_instructions(request: ProviderRequest) -> list[Message]:
    """The request's messages, preceded by the JSON instruction a task or JSON mode needs."""
    messages = list(request.messages)
    if request.task is not None:
        messages.insert(0, Message("system", instruction(request.task)))
    elif request.json_mode:
        messages.insert(0, Message("system", JSON_INSTRUCTION))
    return messages


class RemoteProvider(Provider):
    """A provider reached over HTTP through the shared `ServiceClient`."""

    def __init__(self, config: ProviderConfig, http: ServiceClient) -> None:
        super().__init__(config)
        self.http = http
        assert config.base_url is not None
        self.base_url = config.base_url.rstrip("/")

    @property
    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.config.timeout_s, connect=min(5.0, self.config.timeout_s))

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _error_message(self, body: Any) -> tuple[str | None, str | None]:
        """(error type, message) from a provider's error body."""
        raise NotImplementedError

    async def _send(
        self, method: str, url: str, *, operation: str, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        try:
            response = await self.http.request(
                method,
                url,
                headers=self._headers(),
                timeout=self._timeout,
                service=self.name,
                operation=operation,
                idempotent=False,
                # a provider is outside the ecosystem: it never gets one of our tokens
                authenticate=False,
                stream=stream,
                **kwargs,
            )
        except CircuitOpenError as exc:
            raise self.error(
                "unavailable", f"circuit open for {exc.target} ({exc.retry_after_s:.0f}s left)"
            ) from exc
        except ServiceUnavailableError as exc:
            if isinstance(exc.__cause__, httpx.TimeoutException):
                raise self.error("timeout", f"no answer within {self.config.timeout_s:g}s") from exc
            raise self.error("unavailable", str(exc)) from exc
        except ServiceCallError as exc:
            raise self.error("unavailable", str(exc)) from exc
        if response.status_code >= 400:
            try:
                if stream:
                    await response.aread()
            except httpx.HTTPError:
                pass
            finally:
                await response.aclose()
            raise self._status_error(response)
        return response

    def _status_error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        error_type: str | None = None
        text: str | None = None
        try:
            body = response.text
            try:
                error_type, text = self._error_message(json.loads(body))
            except (ValueError, AttributeError, TypeError):
                pass
            text = text or body[:200].strip() or None
        except httpx.ResponseNotRead:
            pass
        detail = (
            f"HTTP {status}"
            + (f" {error_type}" if error_type else "")
            + (f": {text}" if text else "")
        )
        if status == 429 or error_type in ("rate_limit_error", "rate_limit_exceeded"):
            return self.error(
                "rate_limited", detail, status=status, retry_after_s=retry_after_s(response)
            )
        if status in (408, 504):
            return self.error("timeout", detail, status=status)
        if status >= 500:
            return self.error("server_error", detail, status=status)
        if status in (401, 403):
            return self.error("auth", detail, status=status)
        return self.error("rejected", detail, status=status)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            ctype = response.headers.get("content-type", "?")
            raise self.error(
                "bad_response", f"the answer is not JSON ({ctype}): {response.text[:120]!r}"
            ) from exc
        if not isinstance(data, dict):
            raise self.error("bad_response", "the answer is JSON but not an object")
        return data

    def _event_json(self, data: str) -> dict[str, Any]:
        try:
            parsed = json.loads(data)
        except ValueError as exc:
            raise self.error("bad_response", f"a stream event is not JSON: {data[:120]!r}") from exc
        if not isinstance(parsed, dict):
            raise self.error("bad_response", "a stream event is not a JSON object")
        return parsed

    def _stream_failure(self, exc: httpx.HTTPError) -> ProviderError:
        if isinstance(exc, httpx.TimeoutException):
            return self.error("timeout", f"the stream stalled for {self.config.timeout_s:g}s")
        return self.error("unavailable", f"the stream broke: {type(exc).__name__}: {exc}")

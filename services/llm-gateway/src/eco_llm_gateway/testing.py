"""Doubles of remote LLM providers for tests: real HTTP servers that speak the real wire
protocols (OpenAI chat completions, Anthropic Messages, both with SSE streaming and their
error bodies), with scripted failures. Nothing here is used by the running service."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from eco_llm_gateway.protocol import TaskSpec
from eco_llm_gateway.providers.offline import answer_task
from eco_shared.testing.servers import ThreadedServer

OPENAI_KEY = "sk-test-" + "a1b2c3d4e5f6a7b8c9d0e1f2"
ANTHROPIC_KEY = "sk-ant-test-" + "f1e2d3c4b5a6f7e8d9c0b1a2"


@dataclass
class Behavior:
    """What the double does with the next chat request."""

    kind: str = (
        "ok"  # ok | status | garbage | bad_shape | slow | stream_error | truncated | not_json
    )
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    message: str = "scripted failure"


def _task_in(texts: list[str]) -> TaskSpec | None:
    for text in texts:
        for part in text.split("\n\n"):
            part = part.strip()
            if part.startswith("{"):
                try:
                    data = json.loads(part)
                except ValueError:
                    continue
                if isinstance(data, dict) and "task" in data:
                    return TaskSpec.model_validate(data)
    return None


def model_answer(system: list[str], last_user: str, max_tokens: int | None) -> tuple[str, bool]:
    """What the double's 'model' says: the task's JSON when asked for one, else an echo."""
    task = _task_in(system)
    if task is not None:
        return json.dumps(answer_task(task, task.text or last_user)), False
    words = f"Echo from the double: {last_user}".split()
    if max_tokens is not None and len(words) > max_tokens:
        return " ".join(words[:max_tokens]), True
    return " ".join(words), False


def _pieces(text: str) -> list[str]:
    parts = re.findall(r"\S+\s*", text)
    return ["".join(parts[i : i + 3]) for i in range(0, len(parts), 3)] or [""]


class ProviderDouble:
    """A real HTTP server speaking one provider's wire protocol, with scripted failures."""

    def __init__(self, protocol: str, key: str) -> None:
        self.protocol = protocol
        self.key = key
        self.script: deque[Behavior] = deque()
        self.requests: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.app = self._openai() if protocol == "openai" else self._anthropic()
        self.server = ThreadedServer(self.app)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        """What a provider config's base_url is for this protocol."""
        return f"{self.url}/v1" if self.protocol == "openai" else self.url

    def then(self, *behaviors: Behavior) -> ProviderDouble:
        self.script.extend(behaviors)
        return self

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith(("completions", "messages"))]

    def _next(self) -> Behavior:
        return self.script.popleft() if self.script else Behavior()

    async def _record(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        entry = {"path": request.url.path, "headers": dict(request.headers), "json": body}
        self.requests.append(entry)
        return entry

    # -- OpenAI -----------------------------------------------------------------------

    def _openai(self) -> FastAPI:
        app = FastAPI()

        def error(
            status: int, message: str, kind: str, code: str | None = None, **kw: Any
        ) -> Response:
            body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
            return JSONResponse(body, status_code=status, **kw)

        @app.get("/v1/models")
        async def models(request: Request) -> Response:
            await self._record(request)
            if request.headers.get("authorization") != f"Bearer {self.key}":
                return error(
                    401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"
                )
            return JSONResponse(
                {
                    "object": "list",
                    "data": [
                        {"id": "gpt-double", "object": "model", "created": 0, "owned_by": "double"}
                    ],
                }
            )

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Response:
            entry = await self._record(request)
            if request.headers.get("authorization") != f"Bearer {self.key}":
                return error(
                    401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"
                )
            body = entry["json"] or {}
            behavior = self._next()
            if behavior.kind == "slow":
                await asyncio.sleep(behavior.delay_s)
            if behavior.kind == "status":
                kinds = {
                    429: ("requests", "rate_limit_exceeded"),
                    400: ("invalid_request_error", None),
                }
                kind, code = kinds.get(behavior.status, ("server_error", None))
                return error(
                    behavior.status, behavior.message, kind, code, headers=behavior.headers
                )
            if behavior.kind == "garbage":
                return Response("<html><body>502 Bad Gateway</body></html>", media_type="text/html")
            if behavior.kind == "bad_shape":
                return JSONResponse({"unexpected": True})
            messages = body.get("messages") or []
            if not messages:
                return error(400, "'messages' is required", "invalid_request_error")
            system = [m["content"] for m in messages if m["role"] == "system"]
            last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
            content, cut = model_answer(system, last_user, body.get("max_tokens"))
            if behavior.kind == "not_json":
                content = "Sure! The label is probably search."
            finish = "length" if cut else "stop"
            prompt_tokens = sum(len(str(m["content"]).split()) for m in messages)
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(content.split()),
                "total_tokens": prompt_tokens + len(content.split()),
            }
            cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
            if not body.get("stream"):
                return JSONResponse(
                    {
                        "id": cid,
                        "object": "chat.completion",
                        "created": 1700000000,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "logprobs": None,
                                "finish_reason": finish,
                            }
                        ],
                        "usage": usage,
                    }
                )

            def chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
                data = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": 1700000000,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "delta": delta,
                            "logprobs": None,
                            "finish_reason": finish_reason,
                        }
                    ],
                }
                return f"data: {json.dumps(data)}\n\n".encode()

            async def events() -> AsyncIterator[bytes]:
                yield chunk({"role": "assistant", "content": ""}, None)
                pieces = _pieces(content)
                for i, piece in enumerate(pieces):
                    if behavior.kind == "stream_error" and i == 1:
                        yield (
                            "data: "
                            + json.dumps(
                                {
                                    "error": {
                                        "message": "The server had an error.",
                                        "type": "server_error",
                                        "param": None,
                                        "code": None,
                                    }
                                }
                            )
                            + "\n\n"
                        ).encode()
                        return
                    await asyncio.to_thread(self.gate.wait, 10)
                    yield chunk({"content": piece}, None)
                if behavior.kind == "truncated":
                    return
                yield chunk({}, finish)
                if (body.get("stream_options") or {}).get("include_usage"):
                    data = {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": 1700000000,
                        "model": body["model"],
                        "choices": [],
                        "usage": usage,
                    }
                    yield f"data: {json.dumps(data)}\n\n".encode()
                yield b"data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        return app

    # -- Anthropic --------------------------------------------------------------------

    def _anthropic(self) -> FastAPI:
        app = FastAPI()

        def error(status: int, kind: str, message: str, **kw: Any) -> Response:
            return JSONResponse(
                {"type": "error", "error": {"type": kind, "message": message}},
                status_code=status,
                **kw,
            )

        def authorised(request: Request) -> Response | None:
            if request.headers.get("x-api-key") != self.key:
                return error(401, "authentication_error", "invalid x-api-key")
            if not request.headers.get("anthropic-version"):
                return error(400, "invalid_request_error", "anthropic-version header is required")
            return None

        @app.get("/v1/models")
        async def models(request: Request) -> Response:
            await self._record(request)
            refused = authorised(request)
            if refused is not None:
                return refused
            return JSONResponse(
                {
                    "data": [
                        {
                            "type": "model",
                            "id": "claude-double",
                            "display_name": "Double",
                            "created_at": "2025-01-01T00:00:00Z",
                        }
                    ],
                    "has_more": False,
                    "first_id": "claude-double",
                    "last_id": "claude-double",
                }
            )

        @app.post("/v1/messages")
        async def messages(request: Request) -> Response:
            entry = await self._record(request)
            refused = authorised(request)
            if refused is not None:
                return refused
            body = entry["json"] or {}
            behavior = self._next()
            if behavior.kind == "slow":
                await asyncio.sleep(behavior.delay_s)
            if behavior.kind == "status":
                kinds = {
                    429: "rate_limit_error",
                    529: "overloaded_error",
                    400: "invalid_request_error",
                }
                return error(
                    behavior.status,
                    kinds.get(behavior.status, "api_error"),
                    behavior.message,
                    headers=behavior.headers,
                )
            if behavior.kind == "garbage":
                return Response(
                    "upstream connect error or disconnect/reset before headers",
                    media_type="text/plain",
                )
            if behavior.kind == "bad_shape":
                return JSONResponse({"id": "msg_x", "type": "completion", "completion": "hi"})
            if "max_tokens" not in body:
                return error(400, "invalid_request_error", "max_tokens: Field required")
            turns = body.get("messages") or []
            if (
                not turns
                or turns[0]["role"] != "user"
                or any(a["role"] == b["role"] for a, b in zip(turns, turns[1:], strict=False))
            ):
                return error(
                    400,
                    "invalid_request_error",
                    "messages: roles must alternate, starting with user",
                )
            system = [body["system"]] if body.get("system") else []
            last_user = next((t["content"] for t in reversed(turns) if t["role"] == "user"), "")
            content, cut = model_answer(system, last_user, body["max_tokens"])
            if behavior.kind == "not_json":
                content = "Sure! The label is probably search."
            stop_reason = "max_tokens" if cut else "end_turn"
            in_tokens = sum(len(str(t["content"]).split()) for t in turns) + sum(
                len(s.split()) for s in system
            )
            mid = f"msg_{uuid.uuid4().hex[:12]}"
            if not body.get("stream"):
                return JSONResponse(
                    {
                        "id": mid,
                        "type": "message",
                        "role": "assistant",
                        "model": body["model"],
                        "content": [{"type": "text", "text": content}],
                        "stop_reason": stop_reason,
                        "stop_sequence": None,
                        "usage": {"input_tokens": in_tokens, "output_tokens": len(content.split())},
                    }
                )

            def event(name: str, data: dict[str, Any]) -> bytes:
                return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

            async def events() -> AsyncIterator[bytes]:
                yield event(
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {
                            "id": mid,
                            "type": "message",
                            "role": "assistant",
                            "model": body["model"],
                            "content": [],
                            "stop_reason": None,
                            "stop_sequence": None,
                            "usage": {"input_tokens": in_tokens, "output_tokens": 1},
                        },
                    },
                )
                yield event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                yield event("ping", {"type": "ping"})
                for i, piece in enumerate(_pieces(content)):
                    if behavior.kind == "stream_error" and i == 1:
                        yield event(
                            "error",
                            {
                                "type": "error",
                                "error": {"type": "overloaded_error", "message": "Overloaded"},
                            },
                        )
                        return
                    await asyncio.to_thread(self.gate.wait, 10)
                    yield event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
                if behavior.kind == "truncated":
                    return
                yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
                yield event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                        "usage": {"output_tokens": len(content.split())},
                    },
                )
                yield event("message_stop", {"type": "message_stop"})

            return StreamingResponse(events(), media_type="text/event-stream")

        return app


def provider_config(
    double: ProviderDouble, name: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A provider config entry pointing at a double."""
    model = "gpt-double" if double.protocol == "openai" else "claude-double"
    return {
        "name": name or double.protocol,
        "kind": double.protocol,
        "base_url": double.base_url,
        "api_key": double.key,
        "models": [model],
        **extra,
    }


OFFLINE = {"name": "offline", "kind": "offline"}


def sse_data(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    payloads = []
    for block in re.split(r"\r?\n\r?\n", text):
        lines = [line[5:].lstrip() for line in block.splitlines() if line.startswith("data:")]
        if lines:
            payloads.append("\n".join(lines))
    return payloads

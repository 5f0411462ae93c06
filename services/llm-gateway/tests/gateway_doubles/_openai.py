"""The OpenAI chat-completions double: JSON answers, SSE chunks and OpenAI error bodies."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from gateway_doubles._common import model_answer, pieces

if TYPE_CHECKING:
    from gateway_doubles._double import ProviderDouble


def openai_app(double: ProviderDouble) -> FastAPI:
    app = FastAPI()

    def error(status: int, message: str, kind: str, code: str | None = None, **kw: Any) -> Response:
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return JSONResponse(body, status_code=status, **kw)

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        await double._record(request)
        if request.headers.get("authorization") != f"Bearer {double.key}":
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
        entry = await double._record(request)
        if request.headers.get("authorization") != f"Bearer {double.key}":
            return error(
                401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"
            )
        body = entry["json"] or {}
        behavior = double._next()
        if behavior.kind == "slow":
            await asyncio.sleep(behavior.delay_s)
        if behavior.kind == "status":
            kinds = {
                429: ("requests", "rate_limit_exceeded"),
                400: ("invalid_request_error", None),
            }
            kind, code = kinds.get(behavior.status, ("server_error", None))
            return error(behavior.status, behavior.message, kind, code, headers=behavior.headers)
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
            parts = pieces(content)
            for i, piece in enumerate(parts):
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
                await asyncio.to_thread(double.gate.wait, 10)
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

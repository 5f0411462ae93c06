"""The Anthropic Messages double: JSON answers, SSE events and Anthropic error bodies."""

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


def anthropic_app(double: ProviderDouble) -> FastAPI:
    app = FastAPI()

    def error(status: int, kind: str, message: str, **kw: Any) -> Response:
        return JSONResponse(
            {"type": "error", "error": {"type": kind, "message": message}},
            status_code=status,
            **kw,
        )

    def authorised(request: Request) -> Response | None:
        if request.headers.get("x-api-key") != double.key:
            return error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return error(400, "invalid_request_error", "anthropic-version header is required")
        return None

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        await double._record(request)
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
        entry = await double._record(request)
        refused = authorised(request)
        if refused is not None:
            return refused
        body = entry["json"] or {}
        behavior = double._next()
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
            for i, piece in enumerate(pieces(content)):
                if behavior.kind == "stream_error" and i == 1:
                    yield event(
                        "error",
                        {
                            "type": "error",
                            "error": {"type": "overloaded_error", "message": "Overloaded"},
                        },
                    )
                    return
                await asyncio.to_thread(double.gate.wait, 10)
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

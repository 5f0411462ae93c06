"""OpenAI's error shape on `/v1/*`: what the official SDKs read.

Routes raise the shared problems as every service does; on `/v1/*` the problem+json answer
is rewritten into `{"error": {"message", "type", "param", "code", "eco": <the problem>}}`
with the status codes OpenAI uses (a 422 is a 400 `invalid_request_error` there), and the
OpenAPI document says so. Auth errors too: a 401 (`invalid_api_key`) or 403
(`insufficient_scope`) keeps its `WWW-Authenticate` header. Other paths (`/health`,
`/metrics`) stay problem+json.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eco_shared.models.llm_gateway import OpenAIError
from eco_shared.problems import PROBLEM_JSON
from eco_shared.serving import ServingMiddleware

PREFIX = "/v1"
_REF = "#/components/schemas/OpenAIError"
_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
_CODES = {
    "urn:eco:problem:invalid-token": "invalid_api_key",
    "urn:eco:problem:insufficient-scope": "insufficient_scope",
    "urn:eco:problem:model-not-allowed": "model_not_allowed",
    "urn:eco:problem:budget-exhausted": "insufficient_quota",
    "urn:eco:problem:unknown-model": "model_not_found",
    "urn:eco:problem:rate-limited": "rate_limit_exceeded",
    "urn:eco:problem:prompt-too-large": "context_length_exceeded",
    "urn:eco:problem:task-spec": "invalid_task_spec",
    "urn:eco:problem:sensitive-content": "sensitive_content",
    "urn:eco:problem:provider-failed": "provider_failed",
}
_STATUS_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    503: "service_unavailable",
}


def is_openai_path(path: str) -> bool:
    """Whether `path` speaks OpenAI's protocol (everything under `/v1`)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def openai_status(status: int) -> int:
    """OpenAI answers a request it cannot accept with 400, never 422."""
    return 400 if status == 422 else status


def openai_error(problem: dict[str, Any], status: int) -> dict[str, Any]:
    """The OpenAI error body for a problem+json body."""
    errors = problem.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    message = problem.get("detail") or problem.get("title") or "Error"
    if first and message == "The request is invalid.":
        where = first.get("field") or ".".join(map(str, first.get("loc", [])))
        message = f"Invalid request: {where}: {first.get('msg')}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more, listed in error.eco.errors)"
    param = problem.get("param") or first.get("field") or (problem.get("model") and "model")
    code = problem.get("code") or _CODES.get(str(problem.get("type")))
    if code is None and first:
        code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_value"
    if code is None:
        code = _STATUS_CODES.get(status)
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    if code == "insufficient_quota":
        kind = code  # OpenAI's type for a spent quota, which no retry fixes
    return {
        "error": {
            "message": str(message),
            "type": kind,
            "param": param,
            "code": code,
            "eco": problem,
        }
    }


class OpenAIErrorsMiddleware:
    """Rewrite problem+json answers on `/v1/*` into OpenAI's error shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_openai_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                # only an error's headers are read: a success passes untouched
                if message["status"] >= 400 and MutableHeaders(raw=list(message["headers"])).get(
                    "content-type", ""
                ).startswith(PROBLEM_JSON):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                status, payload = _converted(held["status"], b"".join(body))
                headers = MutableHeaders(raw=list(held["headers"]))
                headers["content-type"] = "application/json"
                headers["content-length"] = str(len(payload))
                await send({**held, "status": status, "headers": headers.raw})
                await send({"type": "http.response.body", "body": payload})
                return
            await send(message)

        await self.app(scope, receive, rewrite)


def _converted(status: int, raw: bytes) -> tuple[int, bytes]:
    try:
        problem = json.loads(raw)
    except ValueError:
        problem = {"title": raw.decode(errors="replace")[:500]}
    if not isinstance(problem, dict):
        problem = {"title": str(problem)}
    new = openai_status(status)
    problem["status"] = new
    return new, json.dumps(openai_error(problem, new), ensure_ascii=False).encode()


def install_openai_errors(app: FastAPI) -> None:
    """OpenAI's error shape on `/v1/*`: answers, crashes, and the OpenAPI document."""
    # Outside the serving layer, so its 413s and 503s are rewritten too (its metrics count
    # the status before the rewrite: 422 where the client is answered 400).
    position = next(
        (i for i, m in enumerate(app.user_middleware) if m.cls is ServingMiddleware),
        len(app.user_middleware),
    )
    app.user_middleware.insert(position, Middleware(OpenAIErrorsMiddleware))
    crash: Callable[[Request, Exception], Awaitable[Response]] = app.exception_handlers[Exception]

    async def crashed(request: Request, exc: Exception) -> Response:
        # Crashes are answered outside every middleware, so they are rewritten here.
        response = await crash(request, exc)
        if not is_openai_path(request.url.path):
            return response
        status, payload = _converted(response.status_code, bytes(response.body))
        return Response(payload, status_code=status, media_type="application/json")

    app.add_exception_handler(Exception, crashed)


def openai_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the OpenAI error schema (not problem+json) for every `/v1/*` error response."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = OpenAIError.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["OpenAIError"] = error_schema
    content = {"application/json": {"schema": {"$ref": _REF}}}
    for path, item in schema.get("paths", {}).items():
        if not is_openai_path(path):
            continue
        for operation in item.values():
            responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
            if "422" in responses:
                invalid = responses.pop("422")
                bad = responses.get("400")
                if bad is None:
                    responses["400"] = invalid
                else:
                    bad["description"] = f"{bad['description']}; {invalid['description']}"
            for response in responses.values():
                if PROBLEM_JSON in response.get("content", {}):
                    response["content"] = dict(content)
    return schema

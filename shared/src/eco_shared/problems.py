"""RFC 9457 problem details: every error a service returns is `application/problem+json`.

Raise `ProblemError` or one of its common cases (`NotFound`, `Conflict`, `BadRequest`,
`ValidationProblem`, `TooLarge`, `Unavailable`); every `errors[]` entry has one shape
(`field_error`). Routes declare what they can return with `problem_responses(404, ...)`,
which shows the `ProblemDetails` schema under `application/problem+json` in OpenAPI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, compile_path

from eco_shared._context import request_id as current_request_id
from eco_shared._problem_schema import (
    PROBLEM_JSON,
    FieldErrorModel,
    ProblemDetails,
    _phrase,
    problem_openapi,
    problem_responses,
)

VALIDATION_TYPE = "urn:eco:problem:validation"

__all__ = [
    "PROBLEM_JSON",
    "VALIDATION_TYPE",
    "BadRequest",
    "Conflict",
    "FieldErrorModel",
    "NotFound",
    "ProblemDetails",
    "ProblemError",
    "TooLarge",
    "Unavailable",
    "ValidationProblem",
    "field_error",
    "install_problem_handlers",
    "problem_openapi",
    "problem_response",
    "problem_responses",
]

log = structlog.get_logger(__name__)


class ProblemError(Exception):
    """Raise from a route to answer with a problem+json body."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        type: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.title = title
        self.type = type
        self.errors = errors
        self.headers = headers
        self.extensions = extensions


def field_error(
    location: str, field: str, msg: str, *, type: str = "value_error"
) -> dict[str, Any]:
    """One `errors[]` entry, the shape request validation produces too."""
    parts = [location, *field.split(".")] if field else [location]
    return {"loc": parts, "field": field or None, "msg": msg, "type": type}


class NotFound(ProblemError):
    """404: `what` (e.g. "Document") `key` does not exist (or is not the caller's)."""

    def __init__(
        self,
        what: str,
        key: object,
        detail: str | None = None,
        *,
        title: str | None = None,
        **ext: Any,
    ) -> None:
        super().__init__(
            404, detail or f"No {what.lower()} {key}.", title=title or f"{what} not found", **ext
        )


class Conflict(ProblemError):
    """409: the request contradicts what is stored."""

    def __init__(self, detail: str, *, title: str = "Conflict", **ext: Any) -> None:
        super().__init__(409, detail, title=title, **ext)


class BadRequest(ProblemError):
    """400: a request the service cannot read (a bad cursor, a malformed body)."""

    def __init__(
        self,
        detail: str,
        *,
        title: str = "Bad request",
        type: str = VALIDATION_TYPE,
        errors: list[dict[str, Any]] | None = None,
        **ext: Any,
    ) -> None:
        super().__init__(400, detail, title=title, type=type, errors=errors, **ext)


class ValidationProblem(ProblemError):
    """422 with field errors: well-formed input whose values are not acceptable."""

    def __init__(
        self,
        errors: Sequence[dict[str, Any]],
        detail: str | None = None,
        *,
        title: str = "Validation failed",
        type: str = VALIDATION_TYPE,
        **ext: Any,
    ) -> None:
        first = errors[0] if errors else None
        if detail is None and first is not None:
            detail = f"{first.get('field') or first['loc'][-1]}: {first['msg']}"
        super().__init__(
            422,
            detail or "The request is invalid.",
            title=title,
            type=type,
            errors=list(errors),
            **ext,
        )

    @classmethod
    def field(
        cls, location: str, field: str, msg: str, *, type: str = "value_error", **ext: Any
    ) -> ValidationProblem:
        """A 422 about one field (`location` is query, path, header or body)."""
        return cls([field_error(location, field, msg, type=type)], **ext)


class TooLarge(ProblemError):
    """413: a body or value over an explicit limit."""

    def __init__(
        self,
        detail: str,
        *,
        title: str = "Content Too Large",
        limit_bytes: int | None = None,
        **ext: Any,
    ) -> None:
        if limit_bytes is not None:
            ext["limit_bytes"] = limit_bytes
        super().__init__(413, detail, title=title, **ext)


class Unavailable(ProblemError):
    """503 with `Retry-After`: a dependency (Redis, a database, an upstream) is down."""

    def __init__(
        self, detail: str, *, title: str = "Service unavailable", retry_after_s: int = 1, **ext: Any
    ) -> None:
        super().__init__(
            503, detail, title=title, headers={"Retry-After": str(retry_after_s)}, **ext
        )


def problem_response(
    request: Request | None,
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    type: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """Build a problem+json response (`instance` is the request path)."""
    body: dict[str, Any] = {
        "type": type,
        "title": title or _phrase(status),
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
    if errors is not None:
        body["errors"] = errors
    body.update(extensions)
    return JSONResponse(
        jsonable_encoder(body), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """The methods of the resource this path names (Starlette names only one route's).

    The resource is the first path template of the app's OpenAPI document that matches, in
    route order, as Starlette routes it: GET and DELETE on `/notes/{id}` are two routes of
    one resource, while `/notes/search`, declared first, is its own even though
    `/notes/{id}` matches it too. Paths outside the document get every method a route serves.
    """
    for regex, methods in _resource_table(request.app):
        if regex.match(request.url.path):
            return ", ".join(methods)
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.routes
        )
    ]
    return ", ".join(allowed)


def _resource_table(app: FastAPI) -> list[tuple[re.Pattern[str], list[str]]]:
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(
        app.state, "eco_resource_table", None
    )
    if table is None:
        table = [
            (compile_path(path)[0], sorted(m.upper() for m in item if m.upper() in _METHODS))
            for path, item in app.openapi().get("paths", {}).items()
        ]
        app.state.eco_resource_table = table
    return table


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        errors.append(
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "field": ".".join(str(p) for p in err.get("loc", ())[1:]) or None,
                "msg": err.get("msg"),
                "type": err.get("type"),
            }
        )
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    """Turn HTTP errors, validation errors, a Redis outage (503) and crashes into problem+json."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.detail,
            title=exc.title,
            type=exc.type,
            errors=exc.errors,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail: str | None = exc.detail if isinstance(exc.detail, str) else None
        if detail == _phrase(exc.status_code):
            detail = None
        headers = dict(exc.headers) if exc.headers else None
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return problem_response(request, exc.status_code, detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        malformed = bool(errors) and all(e["type"] == "json_invalid" for e in errors)
        status = 400 if malformed else 422
        detail = "The request body is not valid JSON." if malformed else "The request is invalid."
        return problem_response(
            request,
            status,
            detail,
            title="Malformed request" if malformed else "Validation failed",
            type=VALIDATION_TYPE,
            errors=errors,
        )

    @app.exception_handler(RedisError)
    async def _redis_down(request: Request, exc: RedisError) -> JSONResponse:
        # Redis holds the bus and most state: an outage is a 503 to retry, not a crash
        log.warning("redis_unavailable", path=request.url.path, error=str(exc)[:200])
        return problem_response(
            request,
            503,
            "A dependency (Redis) is unavailable; retry shortly.",
            title="Service unavailable",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        request_id = current_request_id.get()
        log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
        return problem_response(
            request,
            500,
            "An unexpected error occurred; the service log has the details.",
            request_id=request_id,
        )

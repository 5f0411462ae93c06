"""RFC 9457 problem details: every error a service returns is `application/problem+json`.

Raise `ProblemError` or one of its common cases (`NotFound`, `Conflict`, `BadRequest`,
`ValidationProblem`, `TooLarge`, `Unavailable`); every `errors[]` entry has one shape
(`field_error`). Routes declare what they can return with `problem_responses(404, ...)`,
which shows the `ProblemDetails` schema under `application/problem+json` in OpenAPI.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import structlog
from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
VALIDATION_TYPE = "urn:eco:problem:validation"

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


class FieldErrorModel(BaseModel):
    """One entry of a problem's `errors`."""

    loc: list[str]
    field: str | None = None
    msg: str
    type: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, as every error of every service is shaped."""

    model_config = ConfigDict(extra="allow", title="ProblemDetails")

    type: str = Field("about:blank", description="A URI naming the kind of problem.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = Field(None, description="The request path.")
    errors: list[FieldErrorModel] | None = None


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Unavailable",
    504: "Gateway timeout",
}
_PROBLEM_SCHEMA_REF = {"$ref": "#/components/schemas/ProblemDetails"}


def problem_responses(*statuses: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems a route can return: `problem_responses(404, 409)`.

    A `(status, description)` pair names what the problem means for this route.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for item in statuses:
        status, description = item if isinstance(item, tuple) else (item, None)
        responses[status] = {
            "description": description or _DESCRIPTIONS.get(status, _phrase(status)),
            "content": {PROBLEM_JSON: {"schema": dict(_PROBLEM_SCHEMA_REF)}},
        }
    return responses


def problem_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Finish an app's OpenAPI: the `ProblemDetails` schema, and problem+json everywhere.

    FastAPI's own `HTTPValidationError` 422 is replaced by ours (this service answers
    validation errors as problem+json), and every operation that takes a body may answer 413.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ProblemDetails"] = ProblemDetails.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    defs = components["ProblemDetails"].pop("$defs", {})
    components.update(defs)
    validation = problem_responses(422)[422]
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            current = responses.get("422")
            if current is not None and PROBLEM_JSON not in current.get("content", {}):
                responses["422"] = dict(validation)
            if "requestBody" in operation and "413" not in responses:
                responses["413"] = problem_responses(413)[413]
    for name in ("HTTPValidationError", "ValidationError"):
        if not _schema_referenced(schema, name):
            components.pop(name, None)
    return schema


def _schema_referenced(schema: dict[str, Any], name: str) -> bool:
    target = f"#/components/schemas/{name}"

    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            return any(v == target if k == "$ref" else walk(v) for k, v in node.items())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False

    return walk(schema.get("paths", {})) or any(
        walk(v) for k, v in schema.get("components", {}).get("schemas", {}).items() if k != name
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


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.routes
        )
    ]
    return ", ".join(allowed)


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
        request_id = correlation_id.get()
        log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
        return problem_response(
            request,
            500,
            "An unexpected error occurred; the service log has the details.",
            request_id=request_id,
        )

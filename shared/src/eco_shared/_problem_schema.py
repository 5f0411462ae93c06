"""How problems show in OpenAPI: the `ProblemDetails` schema and each route's declarations.

Public names are re-exported by `eco_shared.problems`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


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
    validation errors as problem+json), and every operation that takes a body may answer
    400 (malformed) and 413 (too large).
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
            if "requestBody" in operation:
                # a body may be too large, or not the JSON it claims to be
                for status in (400, 413):
                    responses.setdefault(str(status), problem_responses(status)[status])
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

"""Read a service's OpenAPI document as a list of capabilities (one per operation).

Discovery stores these for every instance; adapters' conformance tests check their
methods against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class Capability(BaseModel):
    """One operation a service offers."""

    operation_id: str | None = None
    method: str
    path: str
    summary: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    path_params: list[str] = Field(default_factory=list)
    query_params: list[str] = Field(default_factory=list)
    request_schema: dict[str, Any] | None = None
    response_schema: dict[str, Any] | None = None
    intent: str | None = Field(
        default=None, description="`x-eco-intent`: what natural-language request it serves."
    )
    scopes: list[str] | None = Field(
        default=None,
        description="`x-eco-scopes`: the scopes the operation needs ([] public; None undeclared).",
    )


def _scopes(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [str(s) for s in value]


def resolve_refs(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """Inline local `$ref`s so a stored schema stands on its own.

    Recursive schemas are cut at a fixed depth: what lies deeper becomes `{}` (any value),
    never a `$ref` that points into a document the stored schema no longer carries.
    """
    if depth > 12:
        return {} if isinstance(node, dict) and "$ref" in node else node
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = spec
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            return resolve_refs(spec, target, depth + 1)
        return {k: resolve_refs(spec, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_refs(spec, v, depth + 1) for v in node]
    return node


def openapi_operations(spec: dict[str, Any]) -> list[Capability]:
    """Every operation of an OpenAPI 3 document as a `Capability`."""
    paths = spec.get("paths")
    if not isinstance(paths, dict):
        raise ValueError("not an OpenAPI document: no 'paths' object")
    capabilities: list[Capability] = []
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        shared_params = item.get("parameters", [])
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = [resolve_refs(spec, p) for p in [*shared_params, *op.get("parameters", [])]]
            body: dict[str, Any] = op.get("requestBody", {}).get("content", {})
            request_schema = next(iter(body.values())).get("schema") if body else None
            response_schema = None
            for status in ("200", "201", "202"):
                content = op.get("responses", {}).get(status, {}).get("content", {})
                if content:
                    response_schema = next(iter(content.values())).get("schema")
                    break
            capabilities.append(
                Capability(
                    operation_id=op.get("operationId"),
                    method=method.upper(),
                    path=path,
                    summary=op.get("summary"),
                    description=op.get("description"),
                    tags=list(op.get("tags", [])),
                    path_params=[p["name"] for p in params if p.get("in") == "path"],
                    query_params=[p["name"] for p in params if p.get("in") == "query"],
                    request_schema=resolve_refs(spec, request_schema) if request_schema else None,
                    response_schema=resolve_refs(spec, response_schema)
                    if response_schema
                    else None,
                    intent=op.get("x-eco-intent"),
                    scopes=_scopes(op.get("x-eco-scopes")),
                )
            )
    return capabilities

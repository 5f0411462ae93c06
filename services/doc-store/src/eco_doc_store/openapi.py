"""The doc store's OpenAPI document, finished so it states every rule the code enforces.

Metadata and provenance are free-form JSON, but the code refuses NUL characters and lone
surrogates in any string or key of them (PostgreSQL's JSONB cannot keep them). Pydantic has
no words for that, so every string and free-form part reachable from a request body gets a
pattern (or the `StorableJson` schema) here: a request the schema allows is one the service
accepts. (Lone surrogates are refused as well; no pattern can name them.)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from eco_shared.models.doc_store import ANY_TEXT, SHA256_PATTERN, STORABLE_TEXT_PATTERN

STORABLE_JSON = "StorableJson"
_REF = {"$ref": f"#/components/schemas/{STORABLE_JSON}"}
_NAMES = {"pattern": STORABLE_TEXT_PATTERN}
_REQUEST_ROOTS = ("DocumentCreate", "DocumentUpdate")


def _storable_json_schema() -> dict[str, Any]:
    return {
        "description": "Any JSON value; no string or key holds NUL or a lone surrogate.",
        "anyOf": [
            {"type": "string", "pattern": STORABLE_TEXT_PATTERN},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
            {"type": "array", "items": dict(_REF)},
            {"type": "object", "additionalProperties": dict(_REF), "propertyNames": dict(_NAMES)},
        ],
    }


def _constrain(node: Any) -> None:
    """Give every plain string a pattern and every free-form part the `StorableJson` shape."""
    if isinstance(node, list):
        for item in node:
            _constrain(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "string" and not {"pattern", "format", "enum", "const", ANY_TEXT} & node.keys():
        node["pattern"] = STORABLE_TEXT_PATTERN
    elif kind == "object" and node.get("additionalProperties", True) is not False:
        if node.get("additionalProperties", True) is True:
            node["additionalProperties"] = dict(_REF)
        node["propertyNames"] = dict(_NAMES)
    elif kind == "array" and not node.get("items"):
        node["items"] = dict(_REF)
    for key, value in node.items():
        if key not in ("pattern", "propertyNames"):
            _constrain(value)


def _referenced(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _referenced(value, found)
    elif isinstance(node, list):
        for item in node:
            _referenced(item, found)


def constrain_requests(schema: dict[str, Any]) -> dict[str, Any]:
    """Apply the storable-text rules to every component a request body reaches."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    todo = [name for name in _REQUEST_ROOTS if name in components]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name == STORABLE_JSON:
            continue
        seen.add(name)
        refs: set[str] = set()
        _referenced(components[name], refs)
        todo.extend(refs & components.keys())
    claimed = components.get("ProvenanceRecord", {}).get("properties", {}).get("content_sha256")
    for option in (claimed or {}).get("anyOf", []):
        if option.get("type") == "string":
            option["pattern"] = SHA256_PATTERN
    for name in seen:
        _constrain(components[name])
    components[STORABLE_JSON] = _storable_json_schema()
    return schema


def exact_openapi(app: FastAPI) -> None:
    """Finish `app`'s OpenAPI document with `constrain_requests` (once)."""
    generate = app.openapi
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not done:
            done.append(constrain_requests(generate()))
        return done[0]

    app.openapi = openapi  # type: ignore[method-assign]

"""OpenAPI helpers for the API documentation workflow: operations, examples, checks."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
REF_PREFIX = "#/components/schemas/"


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of the spec with what the documentation needs."""
    ops = []
    for path, item in (spec.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = [*item.get("parameters", []), *op.get("parameters", [])]
            params = [resolve(spec, p) for p in params if isinstance(p, dict)]
            body = (op.get("requestBody") or {}).get("content") or {}
            media = next(iter(body), None)
            responses = {}
            for status, response in (op.get("responses") or {}).items():
                response = resolve(spec, response)
                content = response.get("content") or {}
                rmedia = next(iter(content), None)
                responses[str(status)] = {
                    "description": response.get("description", ""),
                    "media_type": rmedia,
                    "schema": (content.get(rmedia) or {}).get("schema") if rmedia else None,
                }
            ops.append(
                {
                    "key": f"{method.upper()} {path}",
                    "method": method.upper(),
                    "path": path,
                    "operation_id": op.get("operationId"),
                    "summary": op.get("summary") or "",
                    "description": op.get("description") or "",
                    "tags": list(op.get("tags") or ["default"]),
                    "parameters": params,
                    "request_media_type": media,
                    "request_schema": (body.get(media) or {}).get("schema") if media else None,
                    "responses": responses,
                }
            )
    return ops


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """Follow one local `$ref` (not recursive)."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 20:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return node
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = target
        seen += 1
    return node


def refs_in(node: Any) -> set[str]:
    """Names of component schemas referenced directly in `node`."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            found.add(ref[len(REF_PREFIX) :])
        for value in node.values():
            found |= refs_in(value)
    elif isinstance(node, list):
        for value in node:
            found |= refs_in(value)
    return found


def referenced_schemas(spec: dict[str, Any], ops: list[dict[str, Any]]) -> list[str]:
    """Component schemas the operations reference, transitively."""
    schemas = (spec.get("components") or {}).get("schemas") or {}
    todo: set[str] = set()
    for op in ops:
        todo |= refs_in(op["request_schema"]) | refs_in(op["responses"]) | refs_in(op["parameters"])
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo |= refs_in(schemas.get(name)) - seen
    return sorted(seen)


def type_of(schema: Any) -> str:
    """A short human type for a schema."""
    if not isinstance(schema, dict):
        return "any"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(type_of(s) for s in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {type_of(schema.get('items'))}"
    if isinstance(kind, list):
        return " | ".join(map(str, kind))
    fmt = schema.get("format")
    return f"{kind} ({fmt})" if fmt else str(kind)


_STRING_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "uri": "http://127.0.0.1:8000/",
    "email": "user@example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def example(spec: dict[str, Any], schema: Any, depth: int = 0, *, strict: bool = False) -> Any:
    """An example value for `schema`; `strict` fills every property, not only required ones."""
    if depth > 8 or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return example(spec, resolve(spec, schema), depth + 1, strict=strict)
    for key in ("example", "default", "const"):
        if key in schema and not (key == "default" and schema[key] is None and strict):
            return schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return example(spec, (non_null or options)[0], depth + 1, strict=strict)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example(spec, part, depth + 1, strict=strict)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        return {
            name: example(spec, sub, depth + 1, strict=strict)
            for name, sub in props.items()
            if strict or name in required or len(props) <= 6
        }
    if kind == "array":
        item = example(spec, schema.get("items") or {}, depth + 1, strict=strict)
        return [item] * max(1, int(schema.get("minItems") or 1))
    if kind == "string":
        value = _STRING_FORMATS.get(str(schema.get("format")), "example")
        min_len = int(schema.get("minLength") or 0)
        max_len = schema.get("maxLength")
        if len(value) < min_len:
            value = value + "x" * (min_len - len(value))
        if isinstance(max_len, int) and len(value) > max_len:
            value = value[:max_len]
        return value
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        value = 1 if low is None else low + (1 if "exclusiveMinimum" in schema else 0)
        high = schema.get("maximum")
        if isinstance(high, (int, float)) and value > high:
            value = high
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return {}


def example_errors(spec: dict[str, Any], schema: Any, value: Any) -> list[str]:
    """Why `value` is not valid against `schema` (empty when it is)."""
    if not isinstance(schema, dict):
        return []
    root = {**schema, "components": spec.get("components") or {}}
    try:
        validator = Draft202012Validator(root)
        return [e.message for e in validator.iter_errors(value)][:5]
    except (SchemaError, RecursionError) as exc:
        return [f"schema not checkable: {exc}"]


def fence(value: Any) -> str:
    """A JSON code block."""
    return "```json\n" + json.dumps(value, indent=2, default=str)[:6000] + "\n```"

"""Form-encoded bodies (`application/x-www-form-urlencoded`), as OAuth's endpoints take them.

Read by hand (no multipart parser needed): every known parameter at most once, unknown
ones ignored, an empty value an absent one (RFC 6749 §3.1); the model validates the rest.
The OpenAPI schema is the model's, without the `null` branches a form cannot carry.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import BaseModel, ValidationError

FORM = "application/x-www-form-urlencoded"
M = TypeVar("M", bound=BaseModel)


class FormError(ValueError):
    """The body is not the form the endpoint takes; `field` names the offending parameter."""

    def __init__(self, message: str, field: str | None = None, *, missing: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.missing = missing


async def read_form(request: Request, model: type[M]) -> M:
    """The request's form body as `model`; FormError when it is not one."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM:
        raise FormError(f"the body must be {FORM}")
    try:
        text = (await request.body()).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=64, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError(f"the body is not a readable form: {exc}") from None
    values: dict[str, str] = {}
    for name, value in pairs:
        if name not in model.model_fields:
            continue  # unknown parameters are ignored (RFC 6749 §3.2)
        if name in values:
            raise FormError(f"parameter {name!r} is given more than once", name)
        values[name] = value
    try:
        return model.model_validate({k: v for k, v in values.items() if v != ""})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else None
        message = f"{field}: {first['msg']}" if field else first["msg"]
        raise FormError(message, field, missing=first["type"] == "missing") from None


def _without_null(schema: Any) -> Any:
    if isinstance(schema, dict):
        branches = schema.get("anyOf")
        if isinstance(branches, list):
            kept = [b for b in branches if b != {"type": "null"}]
            if len(kept) == 1:
                rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
                return _without_null({**kept[0], **rest})
        return {
            k: _without_null(v) for k, v in schema.items() if not (k == "default" and v is None)
        }
    if isinstance(schema, list):
        return [_without_null(v) for v in schema]
    return schema


def form_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` declaring a required form body shaped by `model`."""
    schema = _without_null(model.model_json_schema())
    return {"requestBody": {"required": True, "content": {FORM: {"schema": schema}}}}

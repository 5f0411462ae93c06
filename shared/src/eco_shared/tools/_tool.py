"""`Tool`: one service operation as an async callable, and what a call's arguments must be."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from eco_shared.auth import holds
from eco_shared.capabilities import Capability

if TYPE_CHECKING:
    from eco_shared.tools._registry import ToolRegistry

log = structlog.get_logger(__name__)

_NAME_SAFE = re.compile(r"[^A-Za-z0-9_]+")
_PATH_PARAM = re.compile(r"{(\w+)}")


class ToolNotFoundError(LookupError):
    """No registered service offers the requested operation."""


class ToolArgumentError(ValueError):
    """Arguments that do not fit a tool's schema."""


def tool_name(service: str, capability: Capability) -> str:
    """`<service>.<operation_id>`, or a name made from method and path when there is none."""
    op = capability.operation_id
    if not op:
        op = _NAME_SAFE.sub("_", f"{capability.method.lower()}_{capability.path}").strip("_")
    return f"{service}.{op}"


def scopes_allow(required: Iterable[str], held: Iterable[str]) -> bool:
    """Whether `held` grants every scope in `required`; a scope naming a request value
    (`discovery:register:{name}`) is granted by that scope for any value."""
    held = frozenset(held)
    for scope in required:
        if holds(held, scope):
            continue
        if "{" not in scope:
            return False
        parts = re.split(r"{\w+}", scope)
        pattern = re.compile(r"[^:\s]+".join(map(re.escape, parts)))
        if not any(pattern.fullmatch(h) for h in held):
            return False
    return True


def _declared_scopes(capability: Capability, raw: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The operation's `x-eco-scopes`, from the capability or the raw record discovery sent
    (None when the service declares none: then only the service itself enforces them)."""
    value = getattr(capability, "scopes", None) or raw.get("scopes") or raw.get("x-eco-scopes")
    return tuple(map(str, value)) if isinstance(value, list | tuple) else None


def _arguments_schema(capability: Capability) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name in capability.path_params:
        properties[name] = {"type": "string", "x-in": "path"}
        required.append(name)
    for name in capability.query_params:
        properties[name] = {"x-in": "query"}
    if capability.request_schema is not None:
        properties["body"] = {**capability.request_schema, "x-in": "body"}
        required.append("body")
    return {"type": "object", "properties": properties, "required": required}


@dataclass
class Tool:
    """One operation of one service, callable with keyword arguments."""

    registry: ToolRegistry = field(repr=False)
    service: str
    capability: Capability
    name: str
    parameters: dict[str, Any]
    # the operation's `x-eco-scopes`; None when the service does not say
    scopes: tuple[str, ...] | None = None

    def allowed(self, held: Iterable[str] | None) -> bool:
        """Whether a caller holding `held` may call this tool (None: no restriction known)."""
        if held is None or self.scopes is None:
            return True
        return scopes_allow(self.scopes, held)

    @property
    def method(self) -> str:
        """The HTTP method."""
        return self.capability.method

    @property
    def path(self) -> str:
        """The path template."""
        return self.capability.path

    @property
    def description(self) -> str:
        """Summary and description, for a model choosing among tools."""
        return " ".join(filter(None, [self.capability.summary, self.capability.description]))

    def spec(self) -> dict[str, Any]:
        """An OpenAI-style function description of this tool."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    async def __call__(self, *, headers: Mapping[str, str] | None = None, **arguments: Any) -> Any:
        """Call the operation; return the decoded JSON (or text) of a 2xx answer."""
        response = await self.call_raw(headers=headers, **arguments)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    async def call_raw(
        self, *, headers: Mapping[str, str] | None = None, **arguments: Any
    ) -> httpx.Response:
        """Call the operation and return the 2xx response; raise `AdapterError` otherwise."""
        return await self.registry.invoke(self, arguments, headers=headers)


def _route_shape(path: str) -> str:
    return _PATH_PARAM.sub("{}", path)


def _split_arguments(tool: Tool, arguments: Mapping[str, Any]) -> tuple[str, dict[str, Any], Any]:
    cap = tool.capability
    unknown = set(arguments) - set(cap.path_params) - set(cap.query_params) - {"body"}
    if unknown:
        raise ToolArgumentError(f"{tool.name}: unknown arguments {sorted(unknown)}")
    missing = [name for name in cap.path_params if arguments.get(name) in (None, "")]
    if missing:
        raise ToolArgumentError(f"{tool.name}: missing path parameters {missing}")
    if cap.request_schema is not None and "body" not in arguments:
        raise ToolArgumentError(f"{tool.name}: a body is required")
    path = cap.path
    for name in cap.path_params:
        path = path.replace("{" + name + "}", httpx.URL(str(arguments[name])).raw_path.decode())
    query = {
        name: arguments[name]
        for name in cap.query_params
        if name in arguments and arguments[name] is not None
    }
    return path, query, arguments.get("body")


def _capability_items(
    payload: Any, scopes: dict[tuple[str, str, str], tuple[str, ...] | None] | None = None
) -> list[tuple[str, Capability]]:
    """Read discovery's capability list, whichever envelope it comes in (and, into
    `scopes`, each operation's declared scopes)."""
    if isinstance(payload, dict):
        for key in ("items", "capabilities", "operations", "results"):
            if isinstance(payload.get(key), list):
                payload = payload[key]
                break
    if not isinstance(payload, list):
        raise ValueError("discovery's /capabilities answer is not a list of operations")
    items: list[tuple[str, Capability]] = []
    fields = set(Capability.model_fields)
    for raw in payload:
        if not isinstance(raw, dict):
            continue
        service = raw.get("service") or raw.get("service_name") or raw.get("name")
        if not isinstance(service, str) or "method" not in raw or "path" not in raw:
            continue
        data = {k: v for k, v in raw.items() if k in fields}
        if isinstance(data.get("request_schema"), str):
            data["request_schema"] = json.loads(data["request_schema"])
        try:
            capability = Capability.model_validate(data)
        except ValueError:
            log.warning("tools_capability_skipped", service=service, path=raw.get("path"))
            continue
        items.append((service, capability))
        if scopes is not None:
            scopes[(service, capability.method.upper(), capability.path)] = _declared_scopes(
                capability, raw
            )
    return items

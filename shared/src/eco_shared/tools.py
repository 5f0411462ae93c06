"""Tools generated from discovery's capabilities: one async callable per service operation.

A `ToolRegistry` reads `GET /capabilities` from discovery and turns every operation of
every registered service into a `Tool` named `<service>.<operation_id>`, with a JSON
schema for its arguments (path and query parameters by name, the request body as
`body`). Calling a tool resolves a healthy instance through the `ServiceDirectory` and
goes through the shared `ServiceClient` (retries, breaker, trace propagation, and a
`CallRecord` for provenance), so callers never write another service's URL by hand.
The registry refreshes itself when its answer is older than `ttl_s` and, while `watch()`
runs, whenever discovery's change feed reports a registration, deregistration or health
change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from eco_shared.adapters._base import AdapterError
from eco_shared.capabilities import Capability
from eco_shared.directory import ServiceDirectory
from eco_shared.http import ServiceClient, ServiceUnavailableError, read_problem
from eco_shared.sse import aiter_sse
from eco_shared.supervise import start_supervised

__all__ = ["Tool", "ToolArgumentError", "ToolNotFoundError", "ToolRegistry", "tool_name"]

log = structlog.get_logger(__name__)

_PAGE = 200
_MAX_OPERATIONS = 20_000
_NAME_SAFE = re.compile(r"[^A-Za-z0-9_]+")


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


class ToolRegistry:
    """The tools of every service discovery knows, kept fresh from its change feed."""

    def __init__(
        self,
        http: ServiceClient,
        directory: ServiceDirectory,
        *,
        ttl_s: float = 30.0,
    ) -> None:
        self.http = http
        self.directory = directory
        self.ttl_s = ttl_s
        self._tools: dict[str, Tool] = {}
        self._by_route: dict[tuple[str, str, str], Tool] = {}
        self._fetched_at = 0.0
        self._stale = True
        self._lock = asyncio.Lock()
        self.refreshes = 0

    @property
    def discovery_url(self) -> str:
        """Where discovery is."""
        return self.directory.discovery_url

    def invalidate(self) -> None:
        """Make the next lookup fetch the capabilities again."""
        self._stale = True

    async def refresh(self) -> None:
        """Fetch every service's capabilities from discovery and rebuild the tools."""
        items: list[tuple[str, Capability]] = []
        offset = 0
        while True:
            response = await self.http.get(
                f"{self.discovery_url}/capabilities",
                params={"limit": _PAGE, "offset": offset},
                service="discovery",
                operation="search_capabilities",
            )
            if response.status_code != 200:
                raise AdapterError("discovery", response.status_code, read_problem(response))
            payload = response.json()
            page = _capability_items(payload)
            items.extend(page)
            offset += _PAGE
            total = payload.get("total") if isinstance(payload, dict) else None
            if not isinstance(total, int) or offset >= total or offset >= _MAX_OPERATIONS:
                break
        self.load(items)
        self.refreshes += 1

    def load(self, items: Iterable[tuple[str, Capability]]) -> None:
        """Replace the tools with these `(service, capability)` pairs."""
        tools: dict[str, Tool] = {}
        routes: dict[tuple[str, str, str], Tool] = {}
        for service, capability in items:
            name = tool_name(service, capability)
            tool = Tool(self, service, capability, name, _arguments_schema(capability))
            tools[name] = tool
            routes[(service, capability.method.upper(), _route_shape(capability.path))] = tool
        self._tools, self._by_route = tools, routes
        self._fetched_at = time.monotonic()
        self._stale = False

    async def _ensure(self) -> None:
        if self._stale or time.monotonic() - self._fetched_at > self.ttl_s:
            async with self._lock:
                if self._stale or time.monotonic() - self._fetched_at > self.ttl_s:
                    await self.refresh()

    async def tools(self) -> list[Tool]:
        """Every tool, refreshed when stale."""
        await self._ensure()
        return list(self._tools.values())

    async def services(self) -> list[str]:
        """Names of the services that offer at least one tool."""
        return sorted({tool.service for tool in await self.tools()})

    async def get(self, name: str) -> Tool:
        """A tool by name (`<service>.<operation_id>`)."""
        await self._ensure()
        tool = self._tools.get(name)
        if tool is None:
            # a service registered since the last refresh
            await self.refresh()
            tool = self._tools.get(name)
        if tool is None:
            raise ToolNotFoundError(f"no tool named {name!r}")
        return tool

    async def find(self, service: str, method: str, path: str) -> Tool:
        """The tool of `service` for `METHOD path` (the contract's routes, not operation ids).

        Path parameter names do not matter: `/documents/{id}` finds `/documents/{doc_id}`.
        """
        key = (service, method.upper(), _route_shape(path))
        await self._ensure()
        tool = self._by_route.get(key)
        if tool is None:
            await self.refresh()
            tool = self._by_route.get(key)
        if tool is None:
            raise ToolNotFoundError(
                f"service {service!r} offers no {method.upper()} {path} "
                "(is it registered and healthy in discovery?)"
            )
        return tool

    async def call_route(
        self,
        service: str,
        method: str,
        path: str,
        /,
        *,
        headers: Mapping[str, str] | None = None,
        **arguments: Any,
    ) -> Any:
        """Call `METHOD path` of `service`; path arguments are named as in `path`."""
        tool = await self.find(service, method, path)
        given = _PATH_PARAM.findall(path)
        actual = _PATH_PARAM.findall(tool.path)
        renamed = dict(arguments)
        for mine, theirs in zip(given, actual, strict=False):
            if mine != theirs and mine in renamed:
                renamed[theirs] = renamed.pop(mine)
        return await tool(headers=headers, **renamed)

    async def with_intent(self) -> list[Tool]:
        """Tools whose operation declares an `x-eco-intent`."""
        return [tool for tool in await self.tools() if tool.capability.intent]

    async def invoke(
        self, tool: Tool, arguments: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """Call `tool` with `arguments`, on another healthy instance if the first is down."""
        path, query, body = _split_arguments(tool, arguments)
        kwargs: dict[str, Any] = {}
        if query:
            kwargs["params"] = query
        if body is not None:
            kwargs["json"] = body
        if headers:
            kwargs["headers"] = dict(headers)
        try:
            response = await self._send(tool, path, kwargs)
        except ServiceUnavailableError:
            # the cached instance may be gone: ask discovery again, once
            self.directory.invalidate(tool.service)
            response = await self._send(tool, path, kwargs)
        if response.status_code >= 400:
            raise AdapterError(tool.service, response.status_code, read_problem(response))
        return response

    async def _send(self, tool: Tool, path: str, kwargs: dict[str, Any]) -> httpx.Response:
        base = await self.directory.resolve(tool.service)
        return await self.http.request(
            tool.method,
            base.rstrip("/") + path,
            service=tool.service,
            operation=tool.capability.operation_id or tool.name,
            **kwargs,
        )

    async def watch(self, *, reconnect_s: float = 1.0) -> None:
        """Follow discovery's change feed and invalidate on every change (runs until cancelled)."""
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None)) as client:
            while True:
                try:
                    async with client.stream("GET", f"{self.discovery_url}/watch") as response:
                        if response.status_code != 200:
                            raise httpx.HTTPStatusError(
                                "watch refused", request=response.request, response=response
                            )
                        async for _ in aiter_sse(response.aiter_lines()):
                            self.invalidate()
                            self.directory.invalidate()
                except (httpx.HTTPError, OSError) as exc:
                    log.debug("tools_watch_reconnect", error=str(exc))
                self.invalidate()
                await asyncio.sleep(reconnect_s)

    def start_watch(self) -> asyncio.Task[None]:
        """Run `watch()` as a supervised background task (an unexpected error is logged and
        the watch started again, never a silent end)."""
        return start_supervised("eco-tools-watch", self.watch)

    @staticmethod
    async def stop_watch(task: asyncio.Task[None] | None) -> None:
        """Cancel a task made by `start_watch` and wait for it."""
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


_PATH_PARAM = re.compile(r"{(\w+)}")


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


def _capability_items(payload: Any) -> list[tuple[str, Capability]]:
    """Read discovery's capability list, whichever envelope it comes in."""
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
            items.append((service, Capability.model_validate(data)))
        except ValueError:
            log.warning("tools_capability_skipped", service=service, path=raw.get("path"))
    return items

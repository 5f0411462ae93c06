"""`ToolRegistry`: every service's tools, read from discovery and kept fresh."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import structlog

from eco_shared.adapters._base import AdapterError
from eco_shared.capabilities import Capability
from eco_shared.directory import ServiceDirectory
from eco_shared.http import ServiceCallError, ServiceClient, ServiceUnavailableError, read_problem
from eco_shared.sse import aiter_sse
from eco_shared.supervise import start_supervised
from eco_shared.tools._tool import (
    _PATH_PARAM,
    Tool,
    ToolNotFoundError,
    _arguments_schema,
    _capability_items,
    _declared_scopes,
    _route_shape,
    _split_arguments,
    tool_name,
)

log = structlog.get_logger(__name__)

_PAGE = 200
_MAX_OPERATIONS = 20_000


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
        scopes: dict[tuple[str, str, str], tuple[str, ...] | None] = {}
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
            page = _capability_items(payload, scopes)
            items.extend(page)
            offset += _PAGE
            total = payload.get("total") if isinstance(payload, dict) else None
            if not isinstance(total, int) or offset >= total or offset >= _MAX_OPERATIONS:
                break
        self.load(items, scopes)
        self.refreshes += 1

    def load(
        self,
        items: Iterable[tuple[str, Capability]],
        scopes: Mapping[tuple[str, str, str], tuple[str, ...] | None] | None = None,
    ) -> None:
        """Replace the tools with these `(service, capability)` pairs; `scopes` maps
        `(service, METHOD, path)` to the operation's scopes when the capability lacks them."""
        tools: dict[str, Tool] = {}
        routes: dict[tuple[str, str, str], Tool] = {}
        for service, capability in items:
            name = tool_name(service, capability)
            key = (service, capability.method.upper(), capability.path)
            declared = _declared_scopes(capability, {"scopes": (scopes or {}).get(key)})
            tool = Tool(self, service, capability, name, _arguments_schema(capability), declared)
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

    async def with_intent(self, scopes: Iterable[str] | None = None) -> list[Tool]:
        """Tools whose operation declares an `x-eco-intent` (and, given `scopes`, that a
        caller holding them may call)."""
        held = None if scopes is None else frozenset(scopes)
        return [
            tool for tool in await self.tools() if tool.capability.intent and tool.allowed(held)
        ]

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

    async def _watch_headers(self) -> dict[str, str]:
        tokens = self.http.tokens
        if tokens is None:
            return {}
        return {"Authorization": f"Bearer {await tokens.token_for('discovery')}"}

    async def watch(self, *, reconnect_s: float = 1.0) -> None:
        """Follow discovery's change feed and invalidate on every change (runs until cancelled)."""
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None)) as client:
            while True:
                try:
                    # a fresh token per connection: the feed outlives any one token
                    headers = await self._watch_headers()
                    async with client.stream(
                        "GET", f"{self.discovery_url}/watch", headers=headers
                    ) as response:
                        if response.status_code == 401 and self.http.tokens is not None:
                            self.http.tokens.forget("discovery")  # stale: a fresh one next
                        if response.status_code != 200:
                            raise httpx.HTTPStatusError(
                                "watch refused", request=response.request, response=response
                            )
                        async for _ in aiter_sse(response.aiter_lines()):
                            self.invalidate()
                            self.directory.invalidate()
                except (httpx.HTTPError, OSError, ServiceCallError) as exc:
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

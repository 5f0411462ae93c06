"""`ServiceDirectory`: find a healthy instance of a service by name, through discovery.

Answers are cached briefly and spread round-robin over the healthy instances, so callers
never hard-code another service's URL.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from eco_shared.http import ServiceClient


class ServiceNotFoundError(LookupError):
    """No healthy instance of the named service is registered."""

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(
            f"no healthy instance of service {name!r}" + (f": {detail}" if detail else "")
        )
        self.name = name


@dataclass
class _Entry:
    urls: list[str]
    fetched_at: float
    cycle: itertools.cycle[str] = field(init=False)

    def __post_init__(self) -> None:
        self.cycle = itertools.cycle(self.urls)


class ServiceDirectory:
    """Resolve service names to base URLs through discovery's `GET /services/{name}`."""

    def __init__(
        self,
        discovery_url: str,
        client: ServiceClient,
        *,
        cache_ttl_s: float = 2.0,
        static: dict[str, str] | None = None,
    ) -> None:
        self.discovery_url = discovery_url.rstrip("/")
        self.client = client
        self.cache_ttl_s = cache_ttl_s
        # Fixed answers (the discovery service itself, or a test pinning a URL).
        self.static = {"discovery": self.discovery_url, **(static or {})}
        self._cache: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached answers (for one service, or all)."""
        if name is None:
            self._cache.clear()
        else:
            self._cache.pop(name, None)

    async def instances(self, name: str, *, healthy: bool = True) -> list[dict[str, Any]]:
        """The registered instances of `name` (only passing ones when `healthy`)."""
        response = await self.client.get(
            f"{self.discovery_url}/services/{name}",
            params={"healthy": str(healthy).lower()},
            service="discovery",
            operation="list_instances",
        )
        if response.status_code == 404:
            return []
        response.raise_for_status()
        instances: list[dict[str, Any]] = response.json().get("instances", [])
        return instances

    async def resolve(self, name: str) -> str:
        """A healthy instance's base URL, round-robin over the healthy instances."""
        if name in self.static:
            return self.static[name]
        entry = self._cache.get(name)
        if entry is None or time.monotonic() - entry.fetched_at > self.cache_ttl_s:
            lock = self._locks.setdefault(name, asyncio.Lock())
            async with lock:
                entry = self._cache.get(name)
                if entry is None or time.monotonic() - entry.fetched_at > self.cache_ttl_s:
                    urls = [str(i["base_url"]).rstrip("/") for i in await self.instances(name)]
                    entry = _Entry(urls, time.monotonic())
                    self._cache[name] = entry
        if not entry.urls:
            raise ServiceNotFoundError(name)
        return next(entry.cycle)

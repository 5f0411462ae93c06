"""`ServiceDirectory`: find a healthy instance of a service by name, through discovery.

Answers are cached briefly and spread round-robin over the healthy instances, so callers
never hard-code another service's URL. With `start_watching()` the directory also follows
discovery's `GET /watch` feed and drops a service's cached answer as soon as one of its
instances registers, changes health or leaves; while the feed is connected cached answers
are kept longer (`watch_cache_ttl_s`), since a change would have been announced. The feed
reconnects by itself when discovery restarts; an unexpected error is logged and the watch
starts over, so the directory falls back to short-lived answers, never to stale ones.

Lookups go through the `ServiceClient` naming `service="discovery"`, so they carry this
service's token for discovery (`discovery:read`); the feed, held on a client of its own,
takes its token from the same source and fetches a fresh one after a 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from eco_shared.http import ServiceCallError, ServiceClient
from eco_shared.logging import get_logger
from eco_shared.sse import aiter_sse

log = get_logger(__name__)


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


@dataclass(frozen=True)
class WatchEvent:
    """One change announced on discovery's watch feed."""

    id: str
    type: str
    data: dict[str, Any]


class ServiceDirectory:
    """Resolve service names to base URLs through discovery's `GET /services/{name}`."""

    def __init__(
        self,
        discovery_url: str,
        client: ServiceClient,
        *,
        cache_ttl_s: float = 2.0,
        static: dict[str, str] | None = None,
        watch_cache_ttl_s: float = 30.0,
    ) -> None:
        self.discovery_url = discovery_url.rstrip("/")
        self.client = client
        self.cache_ttl_s = cache_ttl_s
        self.watch_cache_ttl_s = watch_cache_ttl_s
        # Fixed answers (the discovery service itself, or a test pinning a URL).
        self.static = {"discovery": self.discovery_url, **(static or {})}
        self._cache: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._watch_task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.watch_events = 0
        self.last_event: WatchEvent | None = None

    def bind(self, client: ServiceClient | None = None) -> ServiceClient:
        """Let `client` (default: this directory's) take `eco://<service>/<path>` URLs."""
        target = client or self.client
        target.resolver = self.resolve
        return target

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached answers (for one service, or all)."""
        if name is None:
            self._cache.clear()
        else:
            self._cache.pop(name, None)

    @property
    def watching(self) -> bool:
        """True while the watch feed is connected."""
        return self._connected.is_set()

    async def wait_watching(self, timeout_s: float = 10.0) -> None:
        """Wait until the watch feed is connected."""
        await asyncio.wait_for(self._connected.wait(), timeout_s)

    def _ttl(self) -> float:
        return self.watch_cache_ttl_s if self.watching else self.cache_ttl_s

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
        if entry is None or time.monotonic() - entry.fetched_at > self._ttl():
            lock = self._locks.setdefault(name, asyncio.Lock())
            async with lock:
                entry = self._cache.get(name)
                if entry is None or time.monotonic() - entry.fetched_at > self._ttl():
                    entry = await self._refresh(name, entry)
        if not entry.urls:
            raise ServiceNotFoundError(name)
        return next(entry.cycle)

    async def _refresh(self, name: str, stale: _Entry | None) -> _Entry:
        try:
            urls = [str(i["base_url"]).rstrip("/") for i in await self.instances(name)]
        except (ServiceCallError, httpx.HTTPError) as exc:
            if stale is None or not stale.urls:
                raise
            # Discovery is unreachable: the last answer beats no answer; ask again soon.
            log.warning("directory_stale_answer", service=name, error=str(exc))
            stale.fetched_at = time.monotonic() - self._ttl() + min(1.0, self.cache_ttl_s)
            return stale
        entry = _Entry(urls, time.monotonic())
        self._cache[name] = entry
        return entry

    def start_watching(self) -> None:
        """Follow discovery's change feed in the background (reconnecting on failure)."""
        if self._watch_task is None:
            from eco_shared.supervise import start_supervised  # structlog: only for a watcher

            self._watch_task = start_supervised("eco-directory-watch", self._watch)

    async def stop(self) -> None:
        """Stop following the change feed."""
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
            self._watch_task = None
        self._connected.clear()

    def _on_event(self, event: WatchEvent) -> None:
        self.watch_events += 1
        self.last_event = event
        name = event.data.get("name")
        if isinstance(name, str):
            self.invalidate(name)
        else:
            self.invalidate()

    async def _auth_header(self) -> dict[str, str]:
        """The Authorization header for discovery (none when the client has no tokens)."""
        if self.client.tokens is None:
            return {}
        return {"Authorization": f"Bearer {await self.client.tokens.token_for('discovery')}"}

    async def _watch(self) -> None:
        last_id: str | None = None
        delay = 0.2
        # Its own client: a feed held open for hours fits neither the shared client's
        # timeouts nor its breaker, and a broken feed must not trip calls to discovery.
        timeout = httpx.Timeout(5.0, read=60.0)
        async with httpx.AsyncClient(timeout=timeout) as http:
            while True:
                headers = {"Last-Event-ID": last_id} if last_id else {}
                try:
                    headers.update(await self._auth_header())
                    async with http.stream(
                        "GET", f"{self.discovery_url}/watch", headers=headers
                    ) as response:
                        if response.status_code == 401 and self.client.tokens is not None:
                            self.client.tokens.forget("discovery")
                        if response.status_code != 200:
                            raise httpx.HTTPStatusError(
                                f"watch answered {response.status_code}",
                                request=response.request,
                                response=response,
                            )
                        # Changes may have happened while we were not listening.
                        self.invalidate()
                        self._connected.set()
                        delay = 0.2
                        async for sse in aiter_sse(response.aiter_lines()):
                            last_id = sse.id or last_id
                            try:
                                body = sse.json()
                            except ValueError:
                                continue
                            payload = body.get("data") if isinstance(body, dict) else None
                            self._on_event(
                                WatchEvent(
                                    sse.id, sse.event, payload if isinstance(payload, dict) else {}
                                )
                            )
                except (httpx.HTTPError, OSError, ServiceCallError) as exc:
                    log.debug("directory_watch_disconnected", error=str(exc))
                finally:
                    self._connected.clear()
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, 5.0)

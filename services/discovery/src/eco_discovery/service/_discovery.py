"""The discovery service object: its parts, wired together, and their background work."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import httpx
from redis.exceptions import RedisError

from eco_discovery.repository import CapabilityStore, EventFeed, Registry
from eco_discovery.service._catalog import Catalog
from eco_discovery.service._events import Announcer
from eco_discovery.service._instances import Instances
from eco_discovery.service._leases import OwnLease, Reaper
from eco_discovery.service._probing import Prober
from eco_discovery.service._snapshot import InstancesSnapshot
from eco_discovery.service._watch import Watch
from eco_discovery.service.issuer import Audit
from eco_discovery.settings import DiscoverySettings
from eco_shared.bus import EventBus
from eco_shared.problems import ProblemError


class DiscoveryService:
    """The registry: `instances` (leases), `catalog` (queries), `snapshot` (the hot read
    from memory), `watch` (the change feed), and the background `prober`, `reaper`,
    `own_lease` and snapshot follower that `start()` runs."""

    def __init__(
        self,
        settings: DiscoverySettings,
        *,
        registry: Registry,
        capabilities: CapabilityStore,
        events: EventFeed,
        bus: EventBus,
        probe_client: httpx.AsyncClient,
    ) -> None:
        self.settings = settings
        self.owner = settings.instance_id or "discovery"
        announcer = Announcer(bus)
        self.audit = Audit(bus)
        self.instances = Instances(settings, registry, announcer, self._refresh_later, self.audit)
        self.registry = registry
        self.catalog = Catalog(registry, capabilities)
        self.snapshot = InstancesSnapshot(self.catalog, max_age_s=settings.read_cache_s)
        registry.on_write = capabilities.on_write = self.snapshot.changed
        self._events = events
        self.watch = Watch(events)
        self.prober = Prober(settings, registry, capabilities, announcer, probe_client, self.owner)
        self.reaper = Reaper(settings, registry, announcer)
        self.own_lease = OwnLease(settings, self.instances, registry, self.owner)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the reaper, the prober, the loop keeping discovery's own lease and the one
        dropping the snapshot on other replicas' registry events."""
        self._loops = [
            asyncio.create_task(self.own_lease.run(), name="discovery-own-lease"),
            asyncio.create_task(self.reaper.run(), name="discovery-reaper"),
            asyncio.create_task(self.prober.run(), name="discovery-prober"),
            asyncio.create_task(self.snapshot.follow(self._events), name="discovery-snapshot"),
        ]

    async def stop(self) -> None:
        """Stop the background work and remove discovery's own record (best effort)."""
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops.clear()
        # Already gone (404) or Redis down: nothing left to remove.
        with contextlib.suppress(RedisError, OSError, ProblemError):
            await self.own_lease.leave()

    async def lease_of(self, instance_id: str) -> str | None:
        """The service name an instance is registered under (None: not registered)."""
        record = await self.registry.record(instance_id)
        return record.get("name") if record is not None else None

    def _refresh_later(self, instance_id: str) -> None:
        self._spawn(self.prober.refresh_instance(instance_id))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

"""Lease expiry: the reaper with its self-preservation, and discovery's own lease."""

from __future__ import annotations

import asyncio

import structlog
from redis.exceptions import RedisError

from eco_discovery.models import InstanceCreate
from eco_discovery.repository import Registry, StaleGeneration, Transition
from eco_discovery.service._events import Announcer
from eco_discovery.service._instances import Instances
from eco_discovery.settings import DiscoverySettings
from eco_shared.auth import Principal, service_subject
from eco_shared.problems import ProblemError
from eco_shared.supervise import run_every

log = structlog.get_logger(__name__)


class Reaper:
    """Lapsed leases turn critical, expired ones past the grace period are removed."""

    def __init__(
        self, settings: DiscoverySettings, registry: Registry, announcer: Announcer
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.announcer = announcer

    async def reap(self) -> None:
        """One pass; during self-preservation the script neither marks nor evicts."""
        s = self.settings
        result = await self.registry.reap(
            window_ms=int(s.window_s * 1000),
            share=s.self_preservation_share,
            min_lapsed=s.self_preservation_min_lapsed,
            grace_ms=int(s.deregister_critical_after_s * 1000),
        )
        if result.self_preservation:
            await self.announcer.self_preservation(
                active=result.self_preservation == "entered",
                lapsed=result.lapsed,
                total=result.total,
                share=s.self_preservation_share,
                window_s=s.window_s,
            )
        for t in result.criticals:
            await self.announcer.health_changed(
                Transition(
                    t.instance_id,
                    t.name,
                    t.base_url,
                    t.old_status,
                    t.status,
                    "lease expired without a heartbeat",
                ),
                reason="lease_expired",
            )
        for t in result.evicted:
            log.info("instance_evicted", instance_id=t.instance_id, name=t.name)
            await self.announcer.deregistered(t, reason="expired")

    async def self_preservation_check(self) -> None:
        """Readiness check (not required): fails while self-preservation holds evictions."""
        state = await self.registry.self_preservation()
        if state.get("self_preservation") == "1":
            raise RuntimeError(
                f"self-preservation: {state.get('lapsed')} of {state.get('total')} leases "
                f"lapsed within {self.settings.window_s} s; evictions are suspended"
            )

    async def run(self) -> None:
        """The reaper loop: a pass every `reap_interval_s`, through Redis outages."""
        await run_every("discovery-reaper", self.settings.reap_interval_s, self.reap)


class OwnLease:
    """Discovery lists itself by writing its own record (no HTTP call to itself)."""

    def __init__(
        self, settings: DiscoverySettings, instances: Instances, registry: Registry, owner: str
    ) -> None:
        self.settings = settings
        self.instances = instances
        self.registry = registry
        self.owner = owner
        name = settings.service_name
        # discovery registers itself as the service it is, under the same rules as any other
        self.principal = Principal(service_subject(name), frozenset({f"discovery:register:{name}"}))
        self.generation: int | None = None

    async def _renewed(self) -> bool:
        if self.generation is None:
            return False
        try:
            return await self.registry.heartbeat(self.owner, self.generation) is not None
        except StaleGeneration:
            return False

    async def register(self) -> None:
        s = self.settings
        lease = await self.instances.register(
            InstanceCreate(
                name=s.service_name,
                instance_id=self.owner,
                base_url=s.base_url,
                version=s.service_version,
                tags=list(s.tags),
                meta={},
                ttl_s=s.default_ttl_s,
            ),
            self.principal,
        )
        self.generation = lease.generation

    async def run(self) -> None:
        """Register, then renew every third of the TTL; register again if the record is lost."""
        registered = False
        while True:
            try:
                if not registered or not await self._renewed():
                    await self.register()
                registered = True
            except (RedisError, OSError, ProblemError) as exc:
                # Redis away, or (409) our id held by another principal: try again shortly
                registered = False
                log.warning("own_lease_failed", error=str(exc))
                await asyncio.sleep(min(1.0, self.settings.default_ttl_s / 6))
                continue
            await asyncio.sleep(self.settings.default_ttl_s / 3)

    async def leave(self) -> None:
        """Remove discovery's own record on shutdown (best effort, 2 s at most)."""
        await asyncio.wait_for(
            self.instances.deregister(
                self.owner, self.principal, generation=self.generation, reason="shutdown"
            ),
            timeout=2.0,
        )

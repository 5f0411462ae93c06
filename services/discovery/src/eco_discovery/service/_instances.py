"""Registration, renewal and removal of instances: the lease operations behind `/instances`."""

from __future__ import annotations

import json
from collections.abc import Callable

import structlog

from eco_discovery.models import InstanceCreate, InstancePublic, Lease
from eco_discovery.repository import Registry, RegistryFull, Transition, ms_to_iso
from eco_discovery.service._events import Announcer
from eco_discovery.service._views import to_public
from eco_discovery.settings import DiscoverySettings
from eco_shared.problems import NotFound, ProblemError, ValidationProblem

log = structlog.get_logger(__name__)


def unknown_instance(instance_id: str) -> NotFound:
    """404 for an id discovery does not know (a registrar registers afresh on it)."""
    return NotFound(
        "Instance", instance_id, detail=f"No instance with id {instance_id!r} is registered."
    )


class Instances:
    """Register, renew, deregister and read one instance."""

    def __init__(
        self,
        settings: DiscoverySettings,
        registry: Registry,
        announcer: Announcer,
        on_changed: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.announcer = announcer
        # Called with the id of a new or changed registration: probe it and read its spec.
        self.on_changed = on_changed

    def _check_limits(self, body: InstanceCreate) -> float:
        """The lease to grant; 422 for oversized `meta` or a lease over `max_ttl_s`."""
        meta_bytes = len(json.dumps(body.meta, separators=(",", ":")).encode())
        if meta_bytes > self.settings.max_meta_bytes:
            raise ValidationProblem.field(
                "body",
                "meta",
                "too large",
                detail=f"meta is {meta_bytes} bytes as JSON; "
                f"the limit is {self.settings.max_meta_bytes}.",
                title="Meta too large",
            )
        ttl_s = body.ttl_s if body.ttl_s is not None else self.settings.default_ttl_s
        if ttl_s > self.settings.max_ttl_s:
            raise ValidationProblem.field(
                "body",
                "ttl_s",
                "too long",
                detail=f"ttl_s {ttl_s} exceeds the limit of {self.settings.max_ttl_s} s.",
                title="Lease too long",
            )
        return ttl_s

    async def register(self, body: InstanceCreate) -> Lease:
        """Create or refresh a registration; announce it when something changed."""
        ttl_s = self._check_limits(body)
        try:
            result = await self.registry.register(
                instance_id=body.instance_id,
                name=body.name,
                base_url=body.base_url,
                version=body.version,
                tags=body.tags,
                meta=body.meta,
                ttl_ms=max(1, int(ttl_s * 1000)),
                max_instances=self.settings.max_instances,
            )
        except RegistryFull:
            # No factory fits: 507 says the registry, not the request, is at its limit.
            raise ProblemError(
                507,
                f"The registry holds its limit of {self.settings.max_instances} instances.",
                title="Registry full",
            ) from None
        if result.changed:
            await self.announcer.registered(
                name=body.name,
                instance_id=body.instance_id,
                base_url=body.base_url,
                version=body.version,
                tags=body.tags,
                result=result,
            )
        if result.old_status and result.old_status != result.status:
            await self.announcer.health_changed(
                Transition(
                    body.instance_id,
                    body.name,
                    body.base_url,
                    result.old_status,
                    result.status,
                    "registered again",
                ),
                reason="registered",
            )
        if result.changed:
            self.on_changed(body.instance_id)
        return Lease(
            instance_id=body.instance_id,
            ttl_s=ttl_s,
            lease_expires_at=ms_to_iso(result.lease_expires_ms) or "",
            status=result.status,
            created=result.created,
        )

    async def heartbeat(self, instance_id: str) -> Lease:
        """Renew a lease; 404 when discovery does not know the instance (it re-registers)."""
        result = await self.registry.heartbeat(instance_id)
        if result is None:
            raise unknown_instance(instance_id)
        if result.old_status != result.status:
            record = await self.registry.record(instance_id) or {}
            await self.announcer.health_changed(
                Transition(
                    instance_id,
                    record.get("name", ""),
                    record.get("base_url", ""),
                    result.old_status,
                    result.status,
                    "heartbeat renewed the lease",
                ),
                reason="heartbeat",
            )
        return Lease(
            instance_id=instance_id,
            ttl_s=result.ttl_ms / 1000,
            lease_expires_at=ms_to_iso(result.lease_expires_ms) or "",
            status=result.status,
        )

    async def deregister(self, instance_id: str, *, reason: str = "deregistered") -> None:
        """Remove an instance; 404 when unknown."""
        gone = await self.registry.deregister(instance_id)
        if gone is None:
            raise unknown_instance(instance_id)
        log.info("instance_deregistered", instance_id=instance_id, name=gone.name, reason=reason)
        await self.announcer.deregistered(gone, reason=reason)

    async def get(self, instance_id: str) -> InstancePublic:
        """One instance; 404 when unknown."""
        record = await self.registry.record(instance_id)
        if record is None:
            raise unknown_instance(instance_id)
        return to_public(record)

"""Registration, renewal and removal of instances: the lease operations behind `/instances`.

Registry integrity: a principal registers, renews and removes only instances of a name it
holds `discovery:register:<name>` for; an instance id stays bound to the name and owner
that registered it (409 otherwise); a heartbeat renews only the registration whose
generation it names (409 otherwise: the registrar registers afresh). Only an admin removes
or renews another principal's instance. Every refusal is an audit event.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import structlog

from eco_discovery.models import InstanceCreate, InstancePublic, Lease
from eco_discovery.repository import (
    IdentityConflict,
    Registry,
    RegistryFull,
    StaleGeneration,
    Transition,
    ms_to_iso,
)
from eco_discovery.service._events import Announcer
from eco_discovery.service._views import to_public
from eco_discovery.service.issuer import Audit
from eco_discovery.settings import DiscoverySettings
from eco_shared.auth import ADMIN, InsufficientScope, Principal
from eco_shared.problems import Conflict, NotFound, ProblemError, ValidationProblem

log = structlog.get_logger(__name__)


def unknown_instance(instance_id: str) -> NotFound:
    """404 for an id discovery does not know (a registrar registers afresh on it)."""
    return NotFound(
        "Instance", instance_id, detail=f"No instance with id {instance_id!r} is registered."
    )


def register_scope(name: str) -> str:
    """The scope that lets a principal keep instances of service `name` registered."""
    return f"discovery:register:{name}"


def stale(instance_id: str, generation: int | None, exc: StaleGeneration) -> Conflict:
    return Conflict(
        f"Generation {generation} is not the current registration of instance "
        f"{instance_id!r}; register again.",
        title="Another registration",
        current_generation=int(exc.current) if exc.current.isdigit() else None,
    )


class Instances:
    """Register, renew, deregister and read one instance."""

    def __init__(
        self,
        settings: DiscoverySettings,
        registry: Registry,
        announcer: Announcer,
        on_changed: Callable[[str], None],
        audit: Audit,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.announcer = announcer
        # Called with the id of a new or changed registration: probe it and read its spec.
        self.on_changed = on_changed
        self.audit = audit

    async def _refuse(
        self, action: str, caller: Principal, instance_id: str, name: str, reason: str
    ) -> None:
        await self.audit.record(
            "registration.refused",
            {
                "action": action,
                "instance_id": instance_id,
                "name": name,
                "by": caller.subject,
                "acting_chain": caller.acting_chain(),
                "reason": reason,
            },
        )

    async def _may_register(
        self, caller: Principal, action: str, instance_id: str, name: str
    ) -> None:
        scope = register_scope(name)
        if not caller.has(scope):
            await self._refuse(action, caller, instance_id, name, f"lacks {scope}")
            raise InsufficientScope([scope], [scope])

    async def _may_manage(self, caller: Principal, action: str, record: dict[str, str]) -> None:
        """The caller may renew or remove this instance: its name's scope, and its owner
        (or an admin)."""
        instance_id, name = record["instance_id"], record.get("name", "")
        await self._may_register(caller, action, instance_id, name)
        owner = record.get("owner")
        if owner and owner != caller.subject and not caller.has(ADMIN):
            await self._refuse(action, caller, instance_id, name, "another principal's instance")
            raise ProblemError(
                403,
                f"Instance {instance_id!r} was registered by another principal; only it "
                "(or an admin) may renew or remove it.",
                title="Not your instance",
                type="urn:eco:problem:not-owner",
            )

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

    async def register(self, body: InstanceCreate, caller: Principal) -> Lease:
        """Create or refresh a registration (a new generation); announce what changed."""
        await self._may_register(caller, "register", body.instance_id, body.name)
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
                owner=caller.subject,
            )
        except IdentityConflict as exc:
            await self._refuse(
                "register", caller, body.instance_id, body.name, f"bound to another {exc.field}"
            )
            bound = "service" if exc.field == "name" else "principal"
            raise Conflict(
                f"Instance {body.instance_id!r} is registered by another {bound}; an instance "
                "id never changes its name or owner.",
                title="Instance id taken",
            ) from None
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
            generation=result.generation,
        )

    async def _record(self, instance_id: str) -> dict[str, str]:
        record = await self.registry.record(instance_id)
        if record is None:
            raise unknown_instance(instance_id)
        return record

    async def heartbeat(self, instance_id: str, generation: int, caller: Principal) -> Lease:
        """Renew one registration's lease; 404 when unknown, 409 for another generation."""
        await self._may_manage(caller, "heartbeat", await self._record(instance_id))
        try:
            result = await self.registry.heartbeat(instance_id, generation)
        except StaleGeneration as exc:
            raise stale(instance_id, generation, exc) from None
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
            generation=generation,
        )

    async def deregister(
        self,
        instance_id: str,
        caller: Principal,
        *,
        generation: int | None = None,
        reason: str = "deregistered",
    ) -> None:
        """Remove an instance (only that generation, when given); 404 when unknown."""
        record = await self._record(instance_id)
        await self._may_manage(caller, "deregister", record)
        try:
            gone = await self.registry.deregister(instance_id, generation)
        except StaleGeneration as exc:
            raise stale(instance_id, generation, exc) from None
        if gone is None:
            raise unknown_instance(instance_id)
        if record.get("owner") and record["owner"] != caller.subject:
            await self.audit.record(
                "instance.force_removed",
                {
                    "instance_id": instance_id,
                    "name": gone.name,
                    "owner": record["owner"],
                    "by": caller.subject,
                },
            )
        log.info("instance_deregistered", instance_id=instance_id, name=gone.name, reason=reason)
        await self.announcer.deregistered(gone, reason=reason)

    async def get(self, instance_id: str) -> InstancePublic:
        """One instance; 404 when unknown."""
        record = await self.registry.record(instance_id)
        if record is None:
            raise unknown_instance(instance_id)
        return to_public(record)

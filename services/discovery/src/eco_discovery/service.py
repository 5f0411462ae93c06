"""The registry's logic: leases, probes, capabilities, self-preservation and events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Coroutine
from typing import Any

import httpx
import structlog
from redis.exceptions import RedisError

from eco_discovery.models import (
    DEREGISTERED,
    HEALTH_CHANGED,
    REGISTERED,
    SELF_PRESERVATION,
    CapabilityHit,
    CapabilityPage,
    Check,
    InstanceCreate,
    InstancePublic,
    Lease,
    ServiceList,
    ServiceSummary,
)
from eco_discovery.repository import Registry, RegistryFull, Transition, ms_to_iso
from eco_discovery.settings import DiscoverySettings
from eco_shared.bus import EventBus
from eco_shared.capabilities import openapi_operations
from eco_shared.problems import ProblemError

log = structlog.get_logger(__name__)

_MAX_OUTPUT = 500
FIRST_PROBE_DELAY_S = 0.5


class OpenAPIFetchError(Exception):
    """The instance's OpenAPI document could not be fetched or read."""


def to_public(record: dict[str, str]) -> InstancePublic:
    """An instance hash as the wire model."""
    check_status = record.get("check", "passing")
    return InstancePublic(
        name=record["name"],
        instance_id=record["instance_id"],
        base_url=record["base_url"],
        version=record.get("version", "0.0.0"),
        tags=json.loads(record.get("tags", "[]")),
        meta=json.loads(record.get("meta", "{}")),
        status=record.get("status", "passing"),
        check=Check(
            status=check_status,
            output=record.get("check_output", ""),
            time=ms_to_iso(record.get("check_time")),
        ),
        lease_status="expired" if record.get("lease") == "expired" else "alive",
        ttl_s=int(record.get("ttl_ms", "0")) / 1000,
        registered_at=ms_to_iso(record.get("registered_at")),
        last_heartbeat=ms_to_iso(record.get("last_heartbeat")),
        lease_expires_at=ms_to_iso(record.get("lease_expires_at")),
        critical_since=ms_to_iso(record.get("critical_since")),
        capabilities_status=record.get("caps_status", "pending"),
        capabilities_error=record.get("caps_error") or None,
        capabilities_count=int(record.get("caps_count") or 0),
    )


def summarize(name: str, records: list[dict[str, str]]) -> ServiceSummary:
    """Counts by status for one service's records."""
    counts = {"passing": 0, "warning": 0, "critical": 0}
    for record in records:
        counts[record.get("status", "passing")] = counts.get(record.get("status", ""), 0) + 1
    if counts["passing"] == len(records) and records:
        status = "passing"
    elif counts["passing"] + counts["warning"] > 0:
        status = "warning"
    else:
        status = "critical"
    tags = sorted({t for r in records for t in json.loads(r.get("tags", "[]"))})
    return ServiceSummary(
        name=name,
        instances=len(records),
        passing=counts["passing"],
        warning=counts["warning"],
        critical=counts["critical"],
        status=status,
        versions=sorted({r.get("version", "") for r in records}),
        tags=tags,
    )


class DiscoveryService:
    """The registry, its background work (reaper, prober, own lease) and its events."""

    def __init__(
        self,
        settings: DiscoverySettings,
        registry: Registry,
        bus: EventBus,
        probe_client: httpx.AsyncClient,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.bus = bus
        self.probe_client = probe_client
        self.owner = settings.instance_id or "discovery"
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._probe_limit = asyncio.Semaphore(settings.probe_concurrency)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the reaper, the prober and the loop keeping discovery's own lease."""
        self._loops = [
            asyncio.create_task(self._own_lease_loop(), name="discovery-own-lease"),
            asyncio.create_task(self._reaper_loop(), name="discovery-reaper"),
            asyncio.create_task(self._prober_loop(), name="discovery-prober"),
        ]

    async def stop(self) -> None:
        """Stop the background work and remove discovery's own record (best effort)."""
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops.clear()
        with contextlib.suppress(RedisError, OSError):
            await asyncio.wait_for(self.deregister(self.owner, reason="shutdown"), timeout=2.0)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, type_: str, data: dict[str, Any]) -> None:
        # The write has committed; a failed publish must not turn it into an error answer.
        try:
            await self.bus.publish(type_, data)
        except (RedisError, OSError) as exc:
            log.warning("event_publish_failed", type=type_, error=str(exc))

    # -- instances ----------------------------------------------------------------------

    async def register(self, body: InstanceCreate) -> Lease:
        """Create or refresh a registration; announce it when something changed."""
        meta_bytes = len(json.dumps(body.meta, separators=(",", ":")).encode())
        if meta_bytes > self.settings.max_meta_bytes:
            raise ProblemError(
                422,
                f"meta is {meta_bytes} bytes as JSON; the limit is {self.settings.max_meta_bytes}.",
                title="Meta too large",
                type="urn:eco:problem:validation",
                errors=[{"loc": ["body", "meta"], "field": "meta", "msg": "too large"}],
            )
        ttl_s = body.ttl_s if body.ttl_s is not None else self.settings.default_ttl_s
        if ttl_s > self.settings.max_ttl_s:
            raise ProblemError(
                422,
                f"ttl_s {ttl_s} exceeds the limit of {self.settings.max_ttl_s} s.",
                title="Lease too long",
                type="urn:eco:problem:validation",
                errors=[{"loc": ["body", "ttl_s"], "field": "ttl_s", "msg": "too long"}],
            )
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
            raise ProblemError(
                507,
                f"The registry holds its limit of {self.settings.max_instances} instances.",
                title="Registry full",
            ) from None
        if result.changed:
            log.info(
                "instance_registered",
                instance_id=body.instance_id,
                name=body.name,
                created=result.created,
            )
            await self._publish(
                REGISTERED,
                {
                    "name": body.name,
                    "instance_id": body.instance_id,
                    "base_url": body.base_url,
                    "version": body.version,
                    "tags": body.tags,
                    "status": result.status,
                    "created": result.created,
                },
            )
        if result.old_status and result.old_status != result.status:
            await self._health_changed(
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
            self._spawn(self.refresh_instance(body.instance_id))
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
            raise _unknown_instance(instance_id)
        if result.old_status != result.status:
            record = await self.registry.record(instance_id) or {}
            await self._health_changed(
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
            raise _unknown_instance(instance_id)
        log.info("instance_deregistered", instance_id=instance_id, name=gone.name, reason=reason)
        await self._publish(
            DEREGISTERED,
            {
                "name": gone.name,
                "instance_id": instance_id,
                "base_url": gone.base_url,
                "last_status": gone.old_status,
                "reason": reason,
            },
        )

    async def instance(self, instance_id: str) -> InstancePublic:
        record = await self.registry.record(instance_id)
        if record is None:
            raise _unknown_instance(instance_id)
        return to_public(record)

    async def _health_changed(self, t: Transition, *, reason: str) -> None:
        log.info(
            "instance_health_changed",
            instance_id=t.instance_id,
            name=t.name,
            old_status=t.old_status,
            status=t.status,
            reason=reason,
        )
        await self._publish(
            HEALTH_CHANGED,
            {
                "name": t.name,
                "instance_id": t.instance_id,
                "base_url": t.base_url,
                "old_status": t.old_status,
                "status": t.status,
                "output": t.output[:_MAX_OUTPUT],
                "reason": reason,
            },
        )

    # -- queries ------------------------------------------------------------------------

    async def services(self) -> ServiceList:
        names = await self.registry.names()
        by_name = await self.registry.instances_of_names(names)
        state = await self.registry.self_preservation()
        return ServiceList(
            services=[summarize(n, by_name.get(n, [])) for n in names if by_name.get(n)],
            self_preservation=state.get("self_preservation") == "1",
        )

    async def service_instances(self, name: str, *, healthy: bool) -> list[InstancePublic]:
        records = await self.registry.service_records(name)
        if not records:
            raise ProblemError(
                404, f"No instance of service {name!r} is registered.", title="Unknown service"
            )
        if healthy:
            records = [r for r in records if r.get("status") == "passing"]
        return [to_public(r) for r in records]

    async def openapi(self, name: str) -> dict[str, Any]:
        """The stored spec of a service: from a passing instance if any, newest version first."""
        records = await self.registry.service_records(name)
        if not records:
            raise ProblemError(
                404, f"No instance of service {name!r} is registered.", title="Unknown service"
            )
        ranked = sorted(
            (r for r in records if r.get("caps_status") == "ok"),
            key=lambda r: (r.get("status") == "passing", r.get("caps_time", "")),
            reverse=True,
        )
        for record in ranked:
            spec = await self.registry.spec(record["instance_id"])
            if spec is not None:
                return spec
        errors = sorted({r.get("caps_error", "") for r in records} - {""})
        raise ProblemError(
            404,
            f"No OpenAPI document is stored for {name!r}"
            + (f" (last error: {errors[0]})" if errors else " (not fetched yet)."),
            title="No OpenAPI document",
        )

    async def search_capabilities(
        self, *, q: str | None, service: str | None, tag: str | None, limit: int, offset: int
    ) -> CapabilityPage:
        """Operations across services, one hit per service version and operation."""
        names = [service] if service else await self.registry.names()
        by_name = await self.registry.instances_of_names(names)
        records = [r for rs in by_name.values() for r in rs if r.get("caps_status") == "ok"]
        caps = await self.registry.capabilities([r["instance_id"] for r in records])
        needle = (q or "").strip().lower()
        hits: dict[tuple[str, str, str, str], CapabilityHit] = {}
        for record in records:
            instance_tags = set(json.loads(record.get("tags", "[]")))
            for cap in caps.get(record["instance_id"], []):
                if tag and tag not in cap.get("tags", []) and tag not in instance_tags:
                    continue
                if needle and needle not in _haystack(record["name"], cap):
                    continue
                key = (record["name"], record.get("version", ""), cap["method"], cap["path"])
                hit = hits.get(key)
                if hit is None:
                    hits[key] = CapabilityHit(
                        **cap,
                        service=record["name"],
                        version=record.get("version", ""),
                        instance_ids=[record["instance_id"]],
                    )
                else:
                    hit.instance_ids.append(record["instance_id"])
        ordered = [hits[k] for k in sorted(hits)]
        return CapabilityPage(
            items=ordered[offset : offset + limit], total=len(ordered), limit=limit, offset=offset
        )

    async def self_preservation_check(self) -> None:
        """Readiness check (not required): fails while self-preservation holds evictions."""
        state = await self.registry.self_preservation()
        if state.get("self_preservation") == "1":
            raise RuntimeError(
                f"self-preservation: {state.get('lapsed')} of {state.get('total')} leases "
                f"lapsed within {self.settings.window_s} s; evictions are suspended"
            )

    # -- probes and capabilities --------------------------------------------------------

    async def probe(self, base_url: str) -> tuple[str, str]:
        """GET /health/ready: 2xx passing; 429/503 warning; anything else critical."""
        try:
            response = await self.probe_client.get(
                f"{base_url}/health/ready", timeout=self.settings.check_timeout_s
            )
        except httpx.HTTPError as exc:
            return "critical", f"{type(exc).__name__}: {exc}"[:_MAX_OUTPUT] or "unreachable"
        output = f"HTTP {response.status_code}: {response.text[:_MAX_OUTPUT]}"
        if response.is_success:
            return "passing", output
        if response.status_code in (429, 503):
            return "warning", output
        return "critical", output

    async def check_instance(self, record: dict[str, str]) -> None:
        """Probe one instance, store the result, announce a status change."""
        async with self._probe_limit:
            status, output = await self.probe(record["base_url"])
        changed = await self.registry.record_check(
            record["instance_id"], record["base_url"], status, output
        )
        if changed is not None and changed[0] != changed[1]:
            await self._health_changed(
                Transition(
                    record["instance_id"],
                    record["name"],
                    record["base_url"],
                    changed[0],
                    changed[1],
                    output,
                ),
                reason="probe",
            )

    async def fetch_openapi(self, base_url: str) -> dict[str, Any]:
        """The instance's `/openapi.json`, size- and time-limited."""
        limit = self.settings.openapi_max_bytes
        try:
            async with self.probe_client.stream(
                "GET", f"{base_url}/openapi.json", timeout=self.settings.openapi_timeout_s
            ) as response:
                if response.status_code != 200:
                    raise OpenAPIFetchError(f"GET /openapi.json answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise OpenAPIFetchError(f"the OpenAPI document exceeds {limit} bytes")
        except httpx.HTTPError as exc:
            raise OpenAPIFetchError(f"{type(exc).__name__}: {exc}") from None
        try:
            spec = json.loads(bytes(body))
        except ValueError as exc:
            raise OpenAPIFetchError(f"not JSON: {exc}") from None
        if not isinstance(spec, dict):
            raise OpenAPIFetchError("not an OpenAPI document: not a JSON object")
        return spec

    async def refresh_capabilities(self, record: dict[str, str]) -> None:
        """Read and store an instance's capabilities; a bad spec is recorded, not raised."""
        instance_id, base_url = record["instance_id"], record["base_url"]
        version = record.get("version", "")
        try:
            spec = await self.fetch_openapi(base_url)
            caps = [c.model_dump() for c in openapi_operations(spec)]
        except (OpenAPIFetchError, ValueError, TypeError, AttributeError, KeyError) as exc:
            error = str(exc)[:_MAX_OUTPUT] or type(exc).__name__
            log.warning("capabilities_failed", instance_id=instance_id, error=error)
            await self.registry.store_capabilities(instance_id, base_url, version, error=error)
            return
        stored = await self.registry.store_capabilities(
            instance_id, base_url, version, capabilities=caps, spec=spec
        )
        log.info(
            "capabilities_stored", instance_id=instance_id, operations=len(caps), stored=stored
        )

    async def refresh_instance(self, instance_id: str) -> None:
        """After a (changed) registration: probe once and read the capabilities."""
        # A registrar registers while its server is still binding its socket.
        await asyncio.sleep(FIRST_PROBE_DELAY_S)
        try:
            record = await self.registry.record(instance_id)
            if record is None:
                return
            await asyncio.gather(self.check_instance(record), self.refresh_capabilities(record))
        except (RedisError, OSError) as exc:
            # The prober retries pending capabilities on its next round.
            log.warning("instance_refresh_failed", instance_id=instance_id, error=str(exc))

    def _capabilities_due(self, record: dict[str, str], now_ms: int) -> bool:
        status = record.get("caps_status", "pending")
        if status == "ok":
            return record.get("caps_version") != record.get("version")
        since = int(record.get("caps_time") or record.get("caps_requested_at") or 0)
        # Pending: its registration's replica may have died before fetching; error: retry.
        wait_s = 2 * self.settings.check_interval_s if status == "pending" else 60.0
        return now_ms - since >= wait_s * 1000

    async def probe_round(self) -> int:
        """Probe every instance once (only one replica per interval); return how many."""
        ttl_ms = max(1, int(self.settings.check_interval_s * 900))
        if not await self.registry.acquire("probe-round", self.owner, ttl_ms):
            return 0
        records = await self.registry.records(await self.registry.instance_ids())
        now_ms = int(time.time() * 1000)
        jobs = [self.check_instance(r) for r in records]
        jobs += [self.refresh_capabilities(r) for r in records if self._capabilities_due(r, now_ms)]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
            if isinstance(result, Exception):
                log.warning("probe_failed", error=f"{type(result).__name__}: {result}")
        return len(records)

    # -- leases -------------------------------------------------------------------------

    async def reap(self) -> None:
        """One reaper pass: lapsed leases turn critical, expired ones past grace are removed."""
        result = await self.registry.reap(
            window_ms=int(self.settings.window_s * 1000),
            share=self.settings.self_preservation_share,
            min_lapsed=self.settings.self_preservation_min_lapsed,
            grace_ms=int(self.settings.deregister_critical_after_s * 1000),
        )
        if result.self_preservation:
            active = result.self_preservation == "entered"
            (log.warning if active else log.info)(
                "self_preservation_" + result.self_preservation,
                lapsed=result.lapsed,
                total=result.total,
            )
            await self._publish(
                SELF_PRESERVATION,
                {
                    "active": active,
                    "lapsed": result.lapsed,
                    "total": result.total,
                    "share": self.settings.self_preservation_share,
                    "window_s": self.settings.window_s,
                },
            )
        for t in result.criticals:
            await self._health_changed(
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
            await self._publish(
                DEREGISTERED,
                {
                    "name": t.name,
                    "instance_id": t.instance_id,
                    "base_url": t.base_url,
                    "last_status": t.old_status,
                    "reason": "expired",
                },
            )

    async def register_self(self) -> None:
        """Discovery lists itself by writing its own record (no HTTP call to itself)."""
        s = self.settings
        await self.register(
            InstanceCreate(
                name=s.service_name,
                instance_id=self.owner,
                base_url=s.base_url,
                version=s.service_version,
                tags=list(s.tags),
                meta={},
                ttl_s=s.default_ttl_s,
            )
        )

    async def _own_lease_loop(self) -> None:
        registered = False
        while True:
            try:
                if not registered or await self.registry.heartbeat(self.owner) is None:
                    await self.register_self()
                registered = True
            except (RedisError, OSError) as exc:
                registered = False
                log.warning("own_lease_failed", error=str(exc))
                await asyncio.sleep(min(1.0, self.settings.default_ttl_s / 6))
                continue
            await asyncio.sleep(self.settings.default_ttl_s / 3)

    async def _reaper_loop(self) -> None:
        while True:
            try:
                await self.reap()
            except (RedisError, OSError) as exc:
                log.warning("reaper_failed", error=str(exc))
            await asyncio.sleep(self.settings.reap_interval_s)

    async def _prober_loop(self) -> None:
        await asyncio.sleep(min(FIRST_PROBE_DELAY_S, self.settings.check_interval_s))
        while True:
            try:
                await self.probe_round()
            except (RedisError, OSError) as exc:
                log.warning("prober_failed", error=str(exc))
            await asyncio.sleep(self.settings.check_interval_s)


def _haystack(service: str, cap: dict[str, Any]) -> str:
    parts = [
        service,
        cap.get("operation_id") or "",
        cap.get("summary") or "",
        cap.get("description") or "",
        cap.get("path") or "",
        cap.get("intent") or "",
        " ".join(cap.get("tags", [])),
    ]
    return " ".join(parts).lower()


def _unknown_instance(instance_id: str) -> ProblemError:
    return ProblemError(
        404, f"No instance with id {instance_id!r} is registered.", title="Unknown instance"
    )

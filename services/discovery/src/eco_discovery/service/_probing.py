"""Probing instances: `/health/ready` for their status, `/openapi.json` for capabilities."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import structlog
from redis.exceptions import RedisError

from eco_discovery.repository import CapabilityStore, Registry, Transition
from eco_discovery.service._events import MAX_OUTPUT, Announcer
from eco_discovery.settings import DiscoverySettings
from eco_shared.capabilities import openapi_operations
from eco_shared.supervise import run_every

log = structlog.get_logger(__name__)

FIRST_PROBE_DELAY_S = 0.5


class OpenAPIFetchError(Exception):
    """The instance's OpenAPI document could not be fetched or read."""


class Prober:
    """Probes every instance each interval (one replica per round) and reads their specs."""

    def __init__(
        self,
        settings: DiscoverySettings,
        registry: Registry,
        capabilities: CapabilityStore,
        announcer: Announcer,
        client: httpx.AsyncClient,
        owner: str,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.capabilities = capabilities
        self.announcer = announcer
        # One attempt each, no breaker, no retries: a probe reports what the instance did.
        self.client = client
        self.owner = owner
        self._limit = asyncio.Semaphore(settings.probe_concurrency)

    async def probe(self, base_url: str) -> tuple[str, str]:
        """GET /health/ready: 2xx passing; 429/503 warning; anything else critical."""
        try:
            response = await self.client.get(
                f"{base_url}/health/ready", timeout=self.settings.check_timeout_s
            )
        except httpx.HTTPError as exc:
            return "critical", f"{type(exc).__name__}: {exc}"[:MAX_OUTPUT] or "unreachable"
        output = f"HTTP {response.status_code}: {response.text[:MAX_OUTPUT]}"
        if response.is_success:
            return "passing", output
        if response.status_code in (429, 503):
            return "warning", output
        return "critical", output

    async def check_instance(self, record: dict[str, str]) -> None:
        """Probe one instance, store the result, announce a status change."""
        async with self._limit:
            status, output = await self.probe(record["base_url"])
        changed = await self.registry.record_check(
            record["instance_id"], record["base_url"], status, output
        )
        if changed is not None and changed[0] != changed[1]:
            await self.announcer.health_changed(
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
            async with self.client.stream(
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
            error = str(exc)[:MAX_OUTPUT] or type(exc).__name__
            log.warning("capabilities_failed", instance_id=instance_id, error=error)
            await self.capabilities.store(instance_id, base_url, version, error=error)
            return
        stored = await self.capabilities.store(
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

    async def run(self) -> None:
        """The prober loop: a round every `check_interval_s`, through Redis outages."""
        await asyncio.sleep(min(FIRST_PROBE_DELAY_S, self.settings.check_interval_s))
        await run_every("discovery-prober", self.settings.check_interval_s, self.probe_round)

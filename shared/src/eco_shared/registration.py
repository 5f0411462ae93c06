"""Self-registration with discovery: register, heartbeat at a third of the lease, deregister.

When discovery is down the service still starts and this keeps retrying in the background;
a heartbeat names the registration's `generation` (the one the registration answered
with), and one answered with 404 (discovery lost the record) or 409 (the record is another
registration's) registers again. The loop is supervised: an unexpected error is logged
and the loop starts over (registering afresh) instead of ending in silence.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import structlog

from eco_shared.http import ServiceCallError, ServiceClient
from eco_shared.http._client import Tokens
from eco_shared.settings import ServiceSettings
from eco_shared.supervise import start_supervised

log = structlog.get_logger(__name__)


class Registrar:
    """Keeps this instance registered with discovery for as long as it runs."""

    def __init__(
        self,
        settings: ServiceSettings,
        client: ServiceClient | None = None,
        *,
        meta: dict[str, Any] | None = None,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 5.0,
        tokens: Tokens | None = None,
    ) -> None:
        self.settings = settings
        # Its own client by default: the control plane retries on its own schedule, and a
        # breaker held open for 30 s would delay registration long after discovery is back.
        self._owns_client = client is None
        self.client = client or ServiceClient(
            service_name=settings.service_name,
            retries=1,
            timeout=2.0,
            reset_timeout_s=retry_max_s,
            tokens=tokens,
        )
        self.meta = meta or {}
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.registered = asyncio.Event()
        self.registrations = 0
        # the current registration's generation (discovery's answer): heartbeats name it
        self.generation: int | None = None
        self.last_error: str | None = None
        self.ttl_s = settings.lease_ttl_s
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._stop_lock = asyncio.Lock()

    @property
    def discovery_url(self) -> str:
        return self.settings.discovery_url.rstrip("/")

    @property
    def instance_id(self) -> str:
        assert self.settings.instance_id is not None
        return self.settings.instance_id

    def payload(self) -> dict[str, Any]:
        """The registration body (DESIGN.md "Discovery contract")."""
        return {
            "name": self.settings.service_name,
            "instance_id": self.instance_id,
            "base_url": self.settings.base_url,
            "version": self.settings.service_version,
            "tags": list(self.settings.tags),
            "meta": self.meta,
        }

    def start(self) -> None:
        """Run the register-and-heartbeat loop as a background task."""
        if self._task is None and not self._stopped:
            self._task = start_supervised("eco-registrar", self._run)

    async def stop(self, deregister: bool = True) -> None:
        """Stop heartbeating and, if registered, deregister (best effort, short timeout).

        Idempotent: a service deregisters as soon as it is told to stop, and again (a no-op)
        when its lifespan ends.
        """
        self._stopped = True
        async with self._stop_lock:
            if self._task is not None:
                self._task.cancel()
                try:
                    await self._task
                except asyncio.CancelledError:
                    pass
                self._task = None
            if deregister and self.registered.is_set():
                try:
                    await asyncio.wait_for(
                        self.client.delete(
                            f"{self.discovery_url}/instances/{self.instance_id}",
                            params=self._generation_param(),
                            service="discovery",
                            operation="deregister",
                        ),
                        timeout=2.0,
                    )
                    log.info("deregistered", instance_id=self.instance_id)
                except (TimeoutError, ServiceCallError, httpx.HTTPError) as exc:
                    log.warning("deregister_failed", error=str(exc))
                self.registered.clear()
            if self._owns_client:
                self._owns_client = False
                await self.client.close()

    async def register(self) -> bool:
        """Register once; True on success."""
        try:
            response = await self.client.post(
                f"{self.discovery_url}/instances",
                json=self.payload(),
                service="discovery",
                operation="register",
                idempotent=True,
            )
        except (ServiceCallError, httpx.HTTPError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        if response.status_code >= 400:
            self.last_error = f"HTTP {response.status_code}: {response.text[:200]}"
            return False
        try:
            lease = response.json()
            self.ttl_s = float(lease.get("ttl_s", self.settings.lease_ttl_s))
            generation = lease.get("generation")
            self.generation = int(generation) if generation is not None else None
        except (ValueError, AttributeError, TypeError):
            self.ttl_s = self.settings.lease_ttl_s
            self.generation = None
        self.registrations += 1
        self.last_error = None
        self.registered.set()
        log.info(
            "registered", instance_id=self.instance_id, ttl_s=self.ttl_s, generation=self.generation
        )
        return True

    def _generation_param(self) -> dict[str, str]:
        return {"generation": str(self.generation)} if self.generation is not None else {}

    async def heartbeat(self) -> bool:
        """Renew the lease once; re-register when discovery no longer knows this
        registration (404: no record; 409: another generation holds the id)."""
        try:
            response = await self.client.put(
                f"{self.discovery_url}/instances/{self.instance_id}/heartbeat",
                params=self._generation_param(),
                service="discovery",
                operation="heartbeat",
            )
        except (ServiceCallError, httpx.HTTPError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        if response.status_code in (404, 409):
            log.warning(
                "lease_lost_reregistering",
                instance_id=self.instance_id,
                status=response.status_code,
            )
            self.registered.clear()
            return await self.register()
        if response.status_code >= 400:
            self.last_error = f"HTTP {response.status_code}: {response.text[:200]}"
            return False
        return True

    async def _run(self) -> None:
        delay = self.retry_initial_s
        while not await self.register():
            log.warning("registration_failed", error=self.last_error, retry_in_s=delay)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.retry_max_s)
        ok = True
        while True:
            # After a failed beat, try again sooner so one lost beat does not cost the lease.
            await asyncio.sleep(self.ttl_s / 3 if ok else min(self.retry_initial_s, self.ttl_s / 6))
            ok = await self.heartbeat()
            if not ok:
                log.warning("heartbeat_failed", error=self.last_error)

"""The issuer as discovery runs it: key material from the files, state in Redis, and the
`ServiceAuth` through which discovery checks tokens meant for itself with its own keys."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from eco_discovery.repository import KeyStore
from eco_discovery.service.issuer._audit import Audit
from eco_discovery.service.issuer._grants import Grants
from eco_discovery.service.issuer._issuer import Issuer, LeaseOf
from eco_discovery.service.issuer._k8s import K8sTokens
from eco_discovery.service.issuer._keys import KeyManager
from eco_discovery.service.issuer._signing import IssuerKeys
from eco_discovery.settings import DiscoverySettings
from eco_shared.auth import (
    REVOCATIONS_CHANNEL,
    ApiKey,
    AuthMaterial,
    KeyCheckUnavailable,
    ServiceAuth,
    ensure_material,
    parse_key,
)
from eco_shared.bus import EventBus
from eco_shared.settings import ServiceSettings

log = structlog.get_logger(__name__)


def issuer_material(settings: DiscoverySettings) -> AuthMaterial:
    """The key material; created on first use outside production (there it must exist)."""
    material = AuthMaterial(settings.auth_path)
    if not material.exists():
        if settings.environment == "production":
            raise RuntimeError(
                f"no key material in {settings.auth_path}: create it with `eco auth init` "
                "and mount it (ECO_AUTH_DIR)"
            )
        ensure_material(settings.auth_path)
    return material


class IssuerRuntime:
    """The issuer's parts: built with the app, connected to Redis by the lifespan."""

    def __init__(self, settings: DiscoverySettings) -> None:
        self.settings = settings
        self.material = issuer_material(settings)
        self.keys = IssuerKeys(self.material)
        self._pepper = self.material.pepper()
        self.api_keys: KeyManager | None = None
        self.issuer: Issuer | None = None
        self.k8s: K8sTokens | None = None
        self._bootstrap: asyncio.Task[None] | None = None

    def service_auth(self, settings: ServiceSettings) -> ServiceAuth:
        """Discovery's own verifier: its key set in-process, key status read locally."""
        return ServiceAuth(settings, local_keys=self.keys.jwks, key_status=self.key_status)

    async def key_status(self, token: str, key_id: str) -> bool:
        if self.api_keys is None:
            raise KeyCheckUnavailable("the issuer is not started")
        try:
            return await self.api_keys.is_active(key_id)
        except (RedisError, OSError) as exc:
            raise KeyCheckUnavailable(str(exc)) from exc

    def open(
        self,
        redis: aioredis.Redis,
        bus: EventBus,
        lease_of: LeaseOf,
        on_revoked: Callable[[str], None],
    ) -> Issuer:
        s = self.settings
        store = KeyStore(redis, s.key("auth:"))
        audit = Audit(bus)
        self.api_keys = KeyManager(
            store,
            self._pepper,
            audit,
            revocations_channel=s.key(REVOCATIONS_CHANNEL),
            on_revoked=on_revoked,
        )
        grants = Grants(store, self._pepper, self.keys, self.api_keys, audit, ttl_s=s.grant_ttl_s)
        if s.auth_k8s_jwks_url and s.auth_k8s_issuer:
            self.k8s = K8sTokens(
                s.auth_k8s_jwks_url,
                s.auth_k8s_issuer,
                s.auth_k8s_audience,
                namespaces=tuple(s.auth_k8s_namespaces),
            )
        self.issuer = Issuer(
            self.keys, self.material, self.api_keys, grants, audit, lease_of, self.k8s
        )
        return self.issuer

    def admin_key(self) -> ApiKey | None:
        """The key to bootstrap: `ECO_AUTH_BOOTSTRAP_KEY`, else the material's `admin.key`."""
        if self.settings.auth_bootstrap_key is not None:
            return parse_key(self.settings.auth_bootstrap_key.get_secret_value().strip())
        return self.material.admin_key()

    async def bootstrap(self) -> None:
        """Make sure the admin key exists; while Redis is away, keep trying in the background."""
        key = self.admin_key()
        if key is None or self.api_keys is None:
            log.info("bootstrap_key_absent")
            return
        api_keys = self.api_keys

        async def attempt() -> bool:
            try:
                created = await api_keys.bootstrap(key)
            except (RedisError, OSError) as exc:
                log.warning("bootstrap_key_retry", error=str(exc)[:200])
                return False
            log.info("bootstrap_key_ready", key_id=key.key_id, created=created)
            return True

        async def keep_trying() -> None:
            while not await attempt():
                await asyncio.sleep(1.0)

        if not await attempt():
            self._bootstrap = asyncio.get_running_loop().create_task(keep_trying())

    async def close(self) -> None:
        if self._bootstrap is not None:
            self._bootstrap.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._bootstrap
        if self.k8s is not None:
            await self.k8s.aclose()

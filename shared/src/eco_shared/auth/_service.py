"""`ServiceAuth`: what one running service needs to check its callers and be a caller.

Built from the service's settings by the app factory and kept as `state.auth`: the
`Verifier` for tokens meant for this service, the service's own `ServiceTokens`, and the
subscription that hears the issuer announce a revoked key. With `ECO_AUTH=off` (allowed
only on loopback) every caller is a local admin and a warning says so at every start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import redis.asyncio as aioredis
import structlog
from fastapi import Request

from eco_shared.auth._client import ServiceTokens, TokenError
from eco_shared.auth._material import AuthMaterial
from eco_shared.auth._principal import ADMIN, Principal, user_subject
from eco_shared.auth._sync import service_secret
from eco_shared.auth._verifier import JwksSource, KeyCheckUnavailable, KeyStatus, Verifier
from eco_shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

REVOCATIONS_CHANNEL = "eco.auth.revocations"
LOCAL_PRINCIPAL = Principal(user_subject("local"), frozenset({ADMIN}))

# (request, reason, detail) -> None: where refused requests are reported (the audit stream)
DeniedHook = Callable[[Request, str, str], Awaitable[None]]


class ServiceAuth:
    """One service's verifier, token source and revocation listener."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        local_keys: Callable[[], Mapping[str, Any]] | None = None,
        key_status: KeyStatus | None = None,
    ) -> None:
        self.settings = settings
        self.enabled = settings.auth == "on"
        self.local_principal = None if self.enabled else LOCAL_PRINCIPAL
        self.tokens: ServiceTokens | None = None
        self.on_denied: DeniedHook | None = None
        self._listener: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        material = AuthMaterial(settings.auth_path)
        if local_keys is not None:
            keys = JwksSource(keys=local_keys)
        else:
            keys = JwksSource(
                path=material.jwks_path if material.jwks_path.is_file() else None,
                url=f"{settings.issuer_url}/.well-known/jwks.json",
            )
        self.verifier = Verifier(
            settings.service_name, keys, key_status=key_status or self._introspect
        )
        secret = service_secret(settings)
        if self.enabled and secret:
            self.tokens = ServiceTokens(
                settings.issuer_url,
                settings.service_name,
                secret,
                instance_id=settings.instance_id,
            )

    async def verify(self, token: str) -> Principal:
        return await self.verifier.verify(token)

    async def denied(self, request: Request, reason: str, detail: str) -> None:
        if self.on_denied is not None:
            with contextlib.suppress(Exception):
                await self.on_denied(request, reason, detail)

    async def _introspect(self, token: str, key_id: str) -> bool:
        """Ask the issuer whether the token (and so its API key) is still active."""
        if self.tokens is None:
            raise KeyCheckUnavailable("this service has no credentials to ask the issuer with")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0))
        try:
            own = await self.tokens.token_for("discovery")
            response = await self._http.post(
                f"{self.settings.issuer_url}/auth/introspect",
                data={"token": token},
                headers={"Authorization": f"Bearer {own}"},
            )
            if response.status_code != 200:
                raise KeyCheckUnavailable(f"the issuer answered {response.status_code}")
            return bool(response.json().get("active"))
        except (httpx.HTTPError, ValueError, TokenError) as exc:
            raise KeyCheckUnavailable(str(exc)) from exc

    def start(self, redis: aioredis.Redis) -> None:
        """Warn when off; follow the issuer's revocation announcements."""
        if not self.enabled:
            log.warning(
                "auth_off",
                detail="ECO_AUTH=off: every caller is treated as a local admin (loopback only)",
            )
            return
        channel = self.settings.key(REVOCATIONS_CHANNEL)
        self._listener = asyncio.get_running_loop().create_task(self._listen(redis, channel))

    async def _listen(self, redis: aioredis.Redis, channel: str) -> None:
        while True:
            try:
                async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(channel)
                    async for message in pubsub.listen():
                        data = message.get("data")
                        if isinstance(data, bytes):
                            self.verifier.forget_key(data.decode())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: key statuses still expire within 30 s
                log.debug("revocation_listener_retry", error=str(exc)[:200])
                await asyncio.sleep(1.0)

    def bind_registration(self, registered: asyncio.Event) -> None:
        """Tokens for other services wait until this instance holds a lease."""
        if self.tokens is not None:
            self.tokens.registered = registered

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._http is not None:
            await self._http.aclose()
        if self.tokens is not None:
            await self.tokens.aclose()

"""Kubernetes projected service-account tokens, exchanged for a service's own token.

A pod's token (`sub` = `system:serviceaccount:<namespace>:<name>`) is verified against the
cluster's JWKS (`ECO_AUTH_K8S_JWKS_URL`), its issuer (`ECO_AUTH_K8S_ISSUER`) and our
audience (`ECO_AUTH_K8S_AUDIENCE`, "eco"); the pod then acts as service `<name>`. Only
asymmetric algorithms are accepted; the JWKS is fetched again when a token names a key not
seen yet (at most once a second) and every five minutes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import structlog

log = structlog.get_logger(__name__)

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
SA_PREFIX = "system:serviceaccount:"


class K8sRefused(Exception):
    """A service-account token that must not be accepted; the message says why."""


class K8sTokens:
    """Verifies projected service-account tokens of one cluster."""

    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audience: str,
        *,
        namespaces: tuple[str, ...] = (),
        min_refresh_s: float = 1.0,
        max_age_s: float = 300.0,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.namespaces = namespaces
        self.min_refresh_s = min_refresh_s
        self.max_age_s = max_age_s
        self._keys: dict[str, Any] = {}
        self._fetched_at = -1e9
        self._lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None

    async def _refresh(self, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if (force and age < self.min_refresh_s) or (not force and age < self.max_age_s):
                return
            self._fetched_at = time.monotonic()
            if self._http is None:
                self._http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0))
            try:
                response = await self._http.get(self.jwks_url)
                response.raise_for_status()
                keys = jwt.PyJWKSet.from_dict(response.json()).keys
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                log.warning("k8s_jwks_fetch_failed", url=self.jwks_url, error=str(exc)[:200])
                return
            self._keys = {str(k.key_id): k.key for k in keys if k.key_id}

    async def _key(self, kid: str) -> Any | None:
        await self._refresh(force=False)
        if kid not in self._keys:
            await self._refresh(force=True)
        return self._keys.get(kid)

    async def service_of(self, token: str) -> str:
        """The service a valid service-account token names; K8sRefused otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise K8sRefused("the service-account token is malformed") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise K8sRefused(f"the service-account token's algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        key = await self._key(kid) if isinstance(kid, str) and kid else None
        if key is None:
            raise K8sRefused("the service-account token is signed by a key the cluster lacks")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=5,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise K8sRefused("the service-account token has expired") from exc
        except jwt.PyJWTError as exc:
            raise K8sRefused(f"the service-account token is invalid: {exc}") from exc
        subject = str(claims["sub"])
        parts = subject.removeprefix(SA_PREFIX).split(":")
        if not subject.startswith(SA_PREFIX) or len(parts) != 2 or not all(parts):
            raise K8sRefused(f"{subject!r} is not a service account")
        namespace, name = parts
        if self.namespaces and namespace not in self.namespaces:
            raise K8sRefused(f"namespace {namespace!r} is not trusted")
        return name

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

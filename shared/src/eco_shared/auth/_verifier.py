"""`Verifier`: turns a bearer token into a `Principal`, or refuses it.

Signature keys come from a JWKS (the local `jwks.json` when there is one, else the
issuer's `/.well-known/jwks.json`), refreshed when a token names a key not seen yet. A
verified token is cached by its SHA-256 until it expires, so each token costs one signature
check. A token minted from an API key (or for a run acting for its user) names the key;
whether that key is still valid is asked of the issuer and remembered for at most
`key_status_ttl_s` (30 s), and forgotten at once when the issuer announces a revocation.
When the issuer cannot be asked, the request is refused with 503: never allowed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import structlog

from eco_shared.auth._principal import Principal
from eco_shared.auth._tokens import ISSUER, InvalidToken, decode, public_keys, unverified_kid

log = structlog.get_logger(__name__)

# (token, key id) -> is the key still active; raises KeyCheckUnavailable when it cannot tell
KeyStatus = Callable[[str, str], Awaitable[bool]]


class KeyCheckUnavailable(Exception):
    """The issuer could not be asked whether a key is still valid."""


class JwksSource:
    """Public signing keys by `kid`, from a local file or the issuer's JWKS endpoint."""

    def __init__(
        self,
        *,
        path: Path | None = None,
        url: str | None = None,
        keys: Callable[[], Mapping[str, Any]] | None = None,
        min_refresh_s: float = 1.0,
    ) -> None:
        self.path = path
        self.url = url
        self._local = keys  # the issuer's own key set, read in-process
        self.min_refresh_s = min_refresh_s
        self._keys: dict[str, Any] = {}
        self._refreshed_at = -1e9
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> Any | None:
        if self._local is not None:
            return public_keys(self._local()).get(kid)
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            if (
                kid not in self._keys
                and time.monotonic() - self._refreshed_at >= self.min_refresh_s
            ):
                await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        self._refreshed_at = time.monotonic()
        jwks: Mapping[str, Any] | None = None
        if self.path is not None and self.path.is_file():
            jwks = json.loads(self.path.read_text())
        elif self.url is not None:
            try:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    response = await client.get(self.url)
                response.raise_for_status()
                jwks = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("jwks_fetch_failed", url=self.url, error=str(exc)[:200])
        if jwks is not None:
            self._keys = public_keys(jwks)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    actors: list[str] = []
    act = claims.get("act")
    while isinstance(act, Mapping) and isinstance(act.get("sub"), str):
        actors.append(act["sub"])
        act = act.get("act")
    scope = claims.get("scope", "")
    return Principal(
        subject=str(claims["sub"]),
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        actors=tuple(actors),
        key_id=claims.get("key") if isinstance(claims.get("key"), str) else None,
        grant_id=claims.get("grant") if isinstance(claims.get("grant"), str) else None,
        resource=claims.get("resource") if isinstance(claims.get("resource"), str) else None,
        token_id=claims.get("jti") if isinstance(claims.get("jti"), str) else None,
        expires_at=float(claims["exp"]),
        audience=str(claims["aud"]),
        limits=claims["limits"] if isinstance(claims.get("limits"), Mapping) else {},
    )


class Verifier:
    """Verifies tokens meant for one audience (this service's name)."""

    def __init__(
        self,
        audience: str,
        keys: JwksSource,
        *,
        key_status: KeyStatus | None = None,
        issuer: str = ISSUER,
        key_status_ttl_s: float = 30.0,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.audience = audience
        self.keys = keys
        self.issuer = issuer
        self.key_status = key_status
        self.key_status_ttl_s = key_status_ttl_s
        self.max_cached = max_cached
        self._clock = clock
        self._tokens: dict[bytes, Principal] = {}
        self._key_status: dict[str, tuple[bool, float]] = {}
        self.signature_checks = 0

    async def verify(self, token: str) -> Principal:
        """The token's principal; InvalidToken or KeyCheckUnavailable otherwise."""
        digest = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        principal = self._tokens.get(digest)
        if principal is None or principal.expires_at <= now:
            principal = await self._verify_signature(token)
            self._remember(digest, principal, now)
        if principal.key_id is not None:
            await self._check_key(token, principal.key_id, now)
        return principal

    async def _verify_signature(self, token: str) -> Principal:
        kid = unverified_kid(token)
        key = await self.keys.get(kid)
        if key is None:
            raise InvalidToken("the token is signed by a key the issuer does not publish")
        self.signature_checks += 1
        return principal_from_claims(decode(token, key, audience=self.audience, issuer=self.issuer))

    def _remember(self, digest: bytes, principal: Principal, now: float) -> None:
        if len(self._tokens) >= self.max_cached:
            self._tokens = {d: p for d, p in self._tokens.items() if p.expires_at > now}
            while len(self._tokens) >= self.max_cached:
                self._tokens.pop(next(iter(self._tokens)))
        self._tokens[digest] = principal

    async def _check_key(self, token: str, key_id: str, now: float) -> None:
        known = self._key_status.get(key_id)
        if known is None or known[1] <= now:
            if self.key_status is None:
                raise KeyCheckUnavailable("no issuer to check API keys with")
            active = await self.key_status(token, key_id)
            known = (active, now + self.key_status_ttl_s)
            self._key_status[key_id] = known
        if not known[0]:
            raise InvalidToken("the token's API key has been revoked")

    def forget_key(self, key_id: str) -> None:
        """The issuer announced a change to `key_id`: ask again on its next use."""
        self._key_status.pop(key_id, None)

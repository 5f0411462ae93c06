"""Tokens for tests, signed with the test session's own key material.

The `eco` pytest plugin creates one `.eco/auth/` directory per test session (in a
temporary directory, `ECO_AUTH_DIR`) before any service starts, so every service a test
builds or spawns verifies against it. A test that plays a user mints that user's token
here, for exactly one audience; a token minted here names no API key, so it is checked
by signature and claims only (what the issuer mints from keys is tested against the real
issuer).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator, Iterable
from pathlib import Path
from urllib.parse import parse_qs

import httpx
from fastapi import FastAPI, HTTPException, Request

from eco_shared.auth import (
    ADMIN,
    AuthMaterial,
    SigningKey,
    ensure_material,
    mint,
    service_subject,
    user_subject,
)

AUTH_DIR_ENV = "ECO_AUTH_DIR"


def session_material() -> AuthMaterial:
    """The test session's key material (created on first use when the plugin did not)."""
    directory = os.environ.get(AUTH_DIR_ENV)
    if not directory:
        directory = tempfile.mkdtemp(prefix="eco-auth-")
        os.environ[AUTH_DIR_ENV] = directory
    material = AuthMaterial(Path(directory))
    if not material.exists():
        ensure_material(material.directory)
    return material


_keys_cache: dict[Path, tuple[float, SigningKey]] = {}


def _current_key(material: AuthMaterial) -> SigningKey:
    """The session's current signing key, read again only when its file changes."""
    path = material.signing_keys_path
    mtime = path.stat().st_mtime
    cached = _keys_cache.get(path)
    if cached is None or cached[0] != mtime:
        cached = (mtime, material.signing_keys().current)
        _keys_cache[path] = cached
    return cached[1]


def token(
    audience: str,
    scopes: Iterable[str] = (ADMIN,),
    *,
    subject: str = user_subject("test"),
    lifetime_s: int = 300,
    **claims: object,
) -> str:
    """A token for `audience`, as the issuer would mint it."""
    key = _current_key(session_material())
    return mint(
        key,
        subject=subject,
        audience=audience,
        scopes=set(scopes),
        lifetime_s=lifetime_s,
        extra=claims,
    )


def bearer(
    audience: str, scopes: Iterable[str] = (ADMIN,), *, subject: str = user_subject("test")
) -> dict[str, str]:
    """An Authorization header for `audience`."""
    return {"Authorization": f"Bearer {token(audience, scopes, subject=subject)}"}


class TestAuth(httpx.Auth):
    """httpx auth minting a fresh token per request for one audience (sync and async)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(
        self,
        audience: str,
        scopes: Iterable[str] = (ADMIN,),
        *,
        subject: str = user_subject("test"),
    ) -> None:
        self.audience = audience
        self.scopes = tuple(scopes)
        self.subject = subject

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = (
            f"Bearer {token(self.audience, self.scopes, subject=self.subject)}"
        )
        yield request


class MintedTokens:
    """A `ServiceClient` token source for tests: a fresh minted token per audience."""

    def __init__(
        self, scopes: Iterable[str] = (ADMIN,), *, subject: str = user_subject("test")
    ) -> None:
        self.scopes = tuple(scopes)
        self.subject = subject

    async def token_for(self, audience: str) -> str:
        return token(audience, self.scopes, subject=self.subject)

    def forget(self, audience: str) -> None:
        """Nothing is cached."""


def add_token_route(app: FastAPI) -> None:
    """Give a discovery double the issuer's client-credentials grant (`POST /auth/token`).

    For tests of the registration contract that run without the real discovery: a client
    whose secret matches its name gets a token for `discovery` with its registration scope.
    """

    @app.post("/auth/token")
    async def issue(request: Request) -> dict[str, object]:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        name = form.get("client_id", "")
        if form.get("client_secret") != session_material().client_secret(name):
            raise HTTPException(401, "invalid_client")
        if form.get("audience") != "discovery":
            raise HTTPException(400, "invalid_target")
        minted = token(
            "discovery",
            ("discovery:read", f"discovery:register:{name}"),
            subject=service_subject(name),
        )
        return {"access_token": minted, "token_type": "Bearer", "expires_in": 300}

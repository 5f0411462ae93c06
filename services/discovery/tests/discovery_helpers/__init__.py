"""Helpers of discovery's tests: the issuer's token endpoint, as a service or user calls it."""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from eco_shared.testing.auth import TestAuth, session_material

# an admin user's tokens for discovery, minted per request
ADMIN = TestAuth("discovery")


def secret_of(service: str) -> str:
    """A service's client secret, from the session's key material."""
    secret = session_material().client_secret(service)
    assert secret is not None
    return secret


def post_token(url: str, **form: str) -> httpx.Response:
    """`POST /auth/token` with a form."""
    return httpx.post(f"{url}/auth/token", data=form, timeout=10)


def client_form(service: str, **form: str) -> dict[str, str]:
    """A token request with `service`'s client credentials."""
    return {"client_id": service, "client_secret": secret_of(service), **form}


def service_token(url: str, service: str, audience: str = "discovery", **form: str) -> str:
    """A token from the real issuer at `url`, by client credentials as `service`."""
    response = post_token(
        url, grant_type="client_credentials", audience=audience, **client_form(service, **form)
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer_of(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, Any]:
    """A token's claims, read without verifying (the issuer under test signed it)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


API_KEY_TYPE = "urn:eco:params:oauth:token-type:api-key"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def key_exchange(url: str, key: str, audience: str = "discovery", **form: str) -> httpx.Response:
    """An API key exchanged for a token (RFC 8693)."""
    return post_token(
        url,
        grant_type=TOKEN_EXCHANGE,
        subject_token=key,
        subject_token_type=API_KEY_TYPE,
        audience=audience,
        **form,
    )


def key_token(url: str, key: str, audience: str = "discovery") -> str:
    response = key_exchange(url, key, audience)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def create_key(url: str, auth: httpx.Auth | None = None, **body: Any) -> dict[str, Any]:
    """`POST /auth/keys` (as an admin user unless `auth` says otherwise)."""
    response = httpx.post(f"{url}/auth/keys", json=body, auth=auth or ADMIN, timeout=10)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created

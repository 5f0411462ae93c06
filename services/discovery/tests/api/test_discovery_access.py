"""Who may call what: every protected route refuses a missing or bad token (401) and a
token without its scope (403); forged, expired, foreign and tampered tokens are 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from discovery_helpers import ADMIN

from eco_shared.auth import mint, new_signing_key
from eco_shared.testing.auth import session_material, token
from eco_shared.testing.servers import ThreadedServer


@pytest.fixture
def server(discovery_server: Callable[..., ThreadedServer]) -> ThreadedServer:
    return discovery_server(default_ttl_s=60)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "spiffe://eco.local",
        "sub": "user:mallory",
        "aud": "discovery",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "scope": "admin",
        **over,
    }


def _forged() -> dict[str, str]:
    """Tokens that must all be refused, by what is wrong with them."""
    current = session_material().signing_keys().current
    good = token("discovery")
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    public_pem = current.private.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": current.kid}).encode())
    hs_body = _b64(json.dumps(_claims()).encode())
    hs_signature = _b64(
        hmac.new(public_pem, f"{hs_header}.{hs_body}".encode(), hashlib.sha256).digest()
    )
    tampered = _b64(json.dumps({**claims, "sub": "user:mallory", "scope": "admin"}).encode())
    return {
        "expired": mint(
            current, subject="user:x", audience="discovery", scopes={"admin"}, now=time.time() - 400
        ),
        "alg none": jwt.encode(_claims(), None, algorithm="none"),
        "alg none, our kid": jwt.encode(
            _claims(), None, algorithm="none", headers={"kid": current.kid}
        ),
        "HS256 keyed with our public key": f"{hs_header}.{hs_body}.{hs_signature}",
        "tampered payload": f"{header}.{tampered}.{signature}",
        "wrong audience": token("doc-store"),
        "wrong issuer": mint(
            current, subject="user:x", audience="discovery", scopes={"admin"}, issuer="https://evil"
        ),
        "unknown signing key": mint(
            new_signing_key(), subject="user:x", audience="discovery", scopes={"admin"}
        ),
        "lives an hour": jwt.encode(
            _claims(exp=int(time.time()) + 3600), current.private, "ES256", {"kid": current.kid}
        ),
        "no expiry": jwt.encode(
            {k: v for k, v in _claims().items() if k != "exp"},
            current.private,
            "ES256",
            {"kid": current.kid},
        ),
        "not a JWT": "hello",
    }


def test_forged_expired_and_foreign_tokens_are_401(
    server: ThreadedServer, audit_events: Callable[..., list[dict[str, Any]]]
) -> None:
    for what, value in _forged().items():
        response = httpx.get(f"{server.url}/services", headers={"Authorization": f"Bearer {value}"})
        assert response.status_code == 401, what
        assert response.headers["content-type"] == "application/problem+json", what
        assert 'error="invalid_token"' in response.headers["www-authenticate"], what
        assert "admin" not in response.text or what == "not a JWT", what
    basic = httpx.get(f"{server.url}/services", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401
    # the control: a good token for discovery is accepted
    assert httpx.get(f"{server.url}/services", auth=ADMIN).status_code == 200
    # each refusal is on the audit stream, without the token
    denied = audit_events("auth.denied")
    assert len(denied) >= len(_forged())
    assert {e["data"]["reason"] for e in denied} == {"invalid_token"}
    assert all(e["data"]["path"] == "/services" for e in denied)
    assert "eyJ" not in json.dumps(denied)


def _operations(url: str) -> list[tuple[str, str, list[str]]]:
    spec = httpx.get(f"{url}/openapi.json").json()
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and op.get("security"):
                found.append((method.upper(), path, op["x-eco-scopes"]))
    return found


def _concrete(path: str) -> str:
    return re.sub(r"{[^}]+}", "x1", path)


def test_every_protected_route_refuses_no_token_and_a_token_without_its_scope(
    server: ThreadedServer,
) -> None:
    operations = _operations(server.url)
    assert len(operations) == 16
    # an instance named like the paths' placeholder, so its routes find one
    x1 = {"name": "x1", "instance_id": "x1", "base_url": server.url}
    assert httpx.post(f"{server.url}/instances", json=x1, auth=ADMIN).status_code == 201
    # a token with scopes for something else entirely
    unrelated = {"Authorization": f"Bearer {token('discovery', ['logs:write'])}"}
    for method, path, scopes in operations:
        url = server.url + _concrete(path)
        params = {"generation": "1"} if path.endswith("heartbeat") else {}
        body: dict[str, Any] = {"json": {}} if method in ("POST", "PUT") else {}
        if path in ("/auth/introspect",):
            body = {"data": {"token": "x"}}
        if path == "/instances":
            body = {"json": {"name": "x1", "instance_id": "x1", "base_url": "http://h"}}
        anonymous = httpx.request(method, url, params=params, **body)
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["www-authenticate"].startswith("Bearer"), (method, path)
        if not scopes:
            continue  # any valid token (whoami)
        refused = httpx.request(method, url, params=params, headers=unrelated, **body)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["missing_scopes"], (method, path)
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]


def test_public_routes_need_no_token(server: ThreadedServer) -> None:
    for path in ("/health", "/health/ready", "/metrics", "/.well-known/jwks.json", "/openapi.json"):
        assert httpx.get(f"{server.url}{path}").status_code == 200, path

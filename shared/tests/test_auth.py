"""`eco_shared.auth` over real HTTP: tokens, keys, the verifier, route declarations."""

from __future__ import annotations

import base64
import itertools
import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import APIRouter, FastAPI

from eco_shared.app import create_service_app
from eco_shared.auth import (
    PUBLIC,
    AuthMaterial,
    InvalidToken,
    JwksSource,
    KeyCheckUnavailable,
    MalformedKey,
    Principal,
    Verifier,
    check_routes_declared,
    decode,
    ensure_material,
    holds,
    mint,
    narrow,
    new_key,
    parse_key,
    redact_keys,
    require,
    service_subject,
)
from eco_shared.http import ServiceClient
from eco_shared.settings import ServiceSettings
from eco_shared.testing.auth import MintedTokens, TestAuth, session_material, token
from eco_shared.testing.servers import ThreadedServer

# --- scopes -----------------------------------------------------------------------------


def test_admin_holds_everything_and_all_holds_the_plain_scope_only() -> None:
    assert holds({"admin"}, "docs:write")
    assert holds({"docs:read:all"}, "docs:read")
    assert holds({"docs:read:all"}, "docs:read:all")
    assert not holds({"docs:read:all"}, "docs:write")
    assert not holds({"docs:read"}, "docs:read:all")
    assert not holds({"docs"}, "docs:read")


def test_a_set_of_scopes_is_looked_up_as_a_list_is_scanned() -> None:
    names = ["admin", "docs:read", "docs:read:all", "docs:write", "docs", "docs:all", "all", ""]
    for size in range(3):
        for held in itertools.combinations(names, size):
            for wanted in names:
                assert holds(frozenset(held), wanted) == holds(list(held), wanted), (held, wanted)


def test_narrow_never_grants_more_than_the_creator_holds() -> None:
    assert narrow({"docs:read", "docs:write", "admin"}, {"docs:read"}) == {"docs:read"}
    assert narrow({"docs:read", "runs:create"}, {"admin"}) == {"docs:read", "runs:create"}


def test_a_principal_knows_its_kind_and_acting_chain() -> None:
    service = Principal(service_subject("orchestrator"), frozenset())
    user = Principal("user:ann", frozenset({"docs:read"}), actors=(service.subject,))
    assert service.kind == "service"
    assert service.service_name == "orchestrator"
    assert user.kind == "user"
    assert user.user_id == "ann"
    assert user.owner == "user:ann"
    assert user.acting_chain() == ["user:ann", service_subject("orchestrator")]
    assert not user.sees_all("docs:read")


# --- tokens -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> Any:
    return session_material().signing_keys()


def _public(keys: Any) -> Any:
    return keys.current.private.public_key()


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_token_decodes_for_its_audience_only(keys: Any) -> None:
    minted = mint(keys.current, subject="user:ann", audience="doc-store", scopes={"docs:read"})
    claims = decode(minted, _public(keys), audience="doc-store")
    assert claims["sub"] == "user:ann"
    assert claims["scope"] == "docs:read"
    with pytest.raises(InvalidToken, match="not meant for orchestrator"):
        decode(minted, _public(keys), audience="orchestrator")


def test_expired_wrong_issuer_and_long_lived_tokens_are_refused(keys: Any) -> None:
    old = mint(keys.current, subject="u", audience="a", scopes=set(), now=time.time() - 400)
    with pytest.raises(InvalidToken, match="expired"):
        decode(old, _public(keys), audience="a")
    foreign = mint(keys.current, subject="u", audience="a", scopes=set(), issuer="https://evil")
    with pytest.raises(InvalidToken, match="issuer"):
        decode(foreign, _public(keys), audience="a")
    now = int(time.time())
    long_lived = jwt.encode(
        {"iss": "spiffe://eco.local", "sub": "u", "aud": "a", "iat": now, "nbf": now,
         "exp": now + 3600},
        keys.current.private,
        algorithm="ES256",
        headers={"kid": keys.current.kid},
    )  # fmt: skip
    with pytest.raises(InvalidToken, match="five minutes"):
        decode(long_lived, _public(keys), audience="a")


def test_a_token_for_two_audiences_is_refused(keys: Any) -> None:
    now = int(time.time())
    two = jwt.encode(
        {"iss": "spiffe://eco.local", "sub": "u", "aud": ["a", "b"], "iat": now, "nbf": now,
         "exp": now + 60},
        keys.current.private,
        algorithm="ES256",
        headers={"kid": keys.current.kid},
    )  # fmt: skip
    with pytest.raises(InvalidToken):
        decode(two, _public(keys), audience="a")


@pytest.fixture
def verifier(keys: Any) -> Verifier:
    return Verifier("doc-store", JwksSource(path=session_material().jwks_path))


async def test_alg_none_hmac_with_the_public_key_and_tampering_are_refused(
    keys: Any, verifier: Verifier
) -> None:
    good = token("doc-store", ["docs:read"])
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    # alg=none, with the real kid
    unsigned = f"{_b64({'alg': 'none', 'kid': keys.current.kid})}.{payload}."
    with pytest.raises(InvalidToken, match="algorithm 'none'"):
        await verifier.verify(unsigned)
    # HS256 keyed with the public key's PEM: the classic key-confusion forgery
    from cryptography.hazmat.primitives import serialization

    pem = _public(keys).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged_header = _b64({"alg": "HS256", "kid": keys.current.kid, "typ": "JWT"})
    import hashlib
    import hmac

    signing_input = f"{forged_header}.{payload}".encode()
    mac = base64.urlsafe_b64encode(hmac.new(pem, signing_input, hashlib.sha256).digest())
    forged = f"{forged_header}.{payload}.{mac.rstrip(b'=').decode()}"
    with pytest.raises(InvalidToken, match="HS256"):
        await verifier.verify(forged)
    # a payload changed after signing (more scopes)
    tampered = f"{header}.{_b64({**claims, 'scope': 'admin'})}.{signature}"
    with pytest.raises(InvalidToken, match="signature"):
        await verifier.verify(tampered)
    # and the untouched token passes
    assert (await verifier.verify(good)).scopes == {"docs:read"}


async def test_each_token_is_verified_once_then_served_from_the_cache(verifier: Verifier) -> None:
    minted = token("doc-store")
    for _ in range(5):
        await verifier.verify(minted)
    assert verifier.signature_checks == 1
    await verifier.verify(token("doc-store"))
    assert verifier.signature_checks == 2


async def test_a_key_status_is_cached_for_its_ttl_and_forgotten_on_announcement(
    keys: Any,
) -> None:
    asked: list[str] = []
    active = {"k1": True}

    async def status(raw: str, key_id: str) -> bool:
        asked.append(key_id)
        return active[key_id]

    now = [time.time()]
    verifier = Verifier(
        "doc-store",
        JwksSource(path=session_material().jwks_path),
        key_status=status,
        clock=lambda: now[0],
    )
    minted = mint(keys.current, subject="user:ann", audience="doc-store", scopes=set(),
                  extra={"key": "k1"}, now=now[0])  # fmt: skip
    await verifier.verify(minted)
    await verifier.verify(minted)
    assert asked == ["k1"]
    active["k1"] = False
    now[0] += 29  # still inside the 30 s the status may be remembered
    await verifier.verify(minted)
    now[0] += 2  # past it: asked again, refused
    with pytest.raises(InvalidToken, match="revoked"):
        await verifier.verify(minted)
    # an announced revocation takes effect at once
    active["k1"] = True
    verifier.forget_key("k1")
    assert (await verifier.verify(minted)).key_id == "k1"
    assert asked == ["k1", "k1", "k1"]


async def test_a_key_that_cannot_be_checked_is_never_allowed(keys: Any) -> None:
    async def issuer_down(raw: str, key_id: str) -> bool:
        raise KeyCheckUnavailable("down")

    verifier = Verifier(
        "doc-store", JwksSource(path=session_material().jwks_path), key_status=issuer_down
    )
    minted = mint(keys.current, subject="user:ann", audience="doc-store", scopes=set(),
                  extra={"key": "k1"})  # fmt: skip
    with pytest.raises(KeyCheckUnavailable):
        await verifier.verify(minted)


async def test_a_new_signing_key_is_picked_up_and_the_previous_still_verifies(
    tmp_path: Path,
) -> None:
    material = ensure_material(tmp_path / "auth")
    verifier = Verifier("svc", JwksSource(path=material.jwks_path, min_refresh_s=0))
    before = mint(material.signing_keys().current, subject="u", audience="svc", scopes=set())
    await verifier.verify(before)
    rotated = material.rotate_signing_keys()
    after = mint(rotated.current, subject="u", audience="svc", scopes=set())
    assert (await verifier.verify(after)).subject == "u"  # unknown kid: JWKS read again
    assert [k["kid"] for k in json.loads(material.jwks_path.read_text())["keys"]] == [
        k.kid for k in rotated.keys
    ]
    fresh = Verifier("svc", JwksSource(path=material.jwks_path))
    assert (await fresh.verify(before)).subject == "u"  # the previous key still verifies


# --- API keys and material --------------------------------------------------------------


def test_api_keys_carry_a_stable_id_and_a_checksum() -> None:
    key = new_key()
    assert parse_key(key.value).key_id == key.key_id
    rotated = new_key(key.key_id)
    assert rotated.key_id == key.key_id
    assert rotated.value != key.value
    typo = key.value[:-7] + ("A" if key.value[-7] != "A" else "B") + key.value[-6:]
    with pytest.raises(MalformedKey, match="checksum"):
        parse_key(typo)
    with pytest.raises(MalformedKey):
        parse_key("sk-not-ours")
    assert key.value not in repr(key)
    text = f"calling with {key.value} now"
    assert redact_keys(text) == f"calling with eco_{key.key_id}_… now"


def test_material_is_private_idempotent_and_derives_service_secrets(tmp_path: Path) -> None:
    directory = tmp_path / "auth"
    material = ensure_material(directory, services=("doc-store",))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("signing-keys.json", "pepper", "master", "admin.key", "services/doc-store"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    admin = material.admin_key()
    again = ensure_material(directory)
    assert again.admin_key() == admin
    assert again.signing_keys().current.kid == material.signing_keys().current.kid
    secret = material.client_secret("doc-store")
    assert secret
    assert secret == material.client_secret("doc-store")
    assert secret != material.client_secret("orchestrator")
    assert AuthMaterial(tmp_path / "none").client_secret("doc-store") is None


# --- routes -----------------------------------------------------------------------------


def _app(*routers: APIRouter, **settings: Any) -> FastAPI:
    return create_service_app(
        ServiceSettings(service_name="svc", register_with_discovery=False, **settings),
        routers=routers,
        configure_process=False,
    )


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/docs-read")
    async def read(caller: Annotated[Principal, require("docs:read")]) -> dict[str, Any]:
        return {"sub": caller.subject, "actors": list(caller.actors)}

    @router.get("/open", dependencies=[PUBLIC])
    async def open_route() -> dict[str, str]:
        return {"ok": "yes"}

    @router.get("/docs-both", dependencies=[require("docs:read")])
    async def both(caller: Annotated[Principal, require("docs:write")]) -> dict[str, str]:
        return {"sub": caller.subject}

    return router


async def test_an_app_with_an_undeclared_route_refuses_to_start() -> None:
    undeclared = APIRouter()

    @undeclared.get("/forgot")
    async def forgot() -> None: ...

    app = _app(_router(), undeclared)
    with pytest.raises(RuntimeError, match="GET /forgot"):
        check_routes_declared(app)
    with pytest.raises(RuntimeError, match="GET /forgot"):
        async with app.router.lifespan_context(app):
            pass


@pytest.fixture
def served(redis_url: str, redis_prefix: str) -> Iterator[str]:
    app = _app(_router(), redis_url=redis_url, redis_prefix=redis_prefix)
    with ThreadedServer(app) as server:
        yield server.url


def test_missing_foreign_and_underscoped_tokens_get_401_and_403(served: str) -> None:
    missing = httpx.get(f"{served}/docs-read")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"].startswith(
        'Bearer realm="eco", error="invalid_token"'
    )
    foreign = httpx.get(f"{served}/docs-read", auth=TestAuth("orchestrator"))
    assert foreign.status_code == 401
    assert "not meant for svc" in foreign.json()["detail"]
    basic = httpx.get(f"{served}/docs-read", auth=("user", "pw"))
    assert basic.status_code == 401
    weak = httpx.get(f"{served}/docs-read", auth=TestAuth("svc", ["docs:write"]))
    assert weak.status_code == 403
    assert weak.json()["required_scopes"] == ["docs:read"]
    assert 'error="insufficient_scope", scope="docs:read"' in weak.headers["www-authenticate"]
    ok = httpx.get(f"{served}/docs-read", auth=TestAuth("svc", ["docs:read"], subject="user:ann"))
    assert ok.json() == {"sub": "user:ann", "actors": []}
    assert httpx.get(f"{served}/open").json() == {"ok": "yes"}


def test_every_require_of_a_route_applies_and_the_scheme_is_case_blind(served: str) -> None:
    reader = TestAuth("svc", ["docs:read"])
    refused = httpx.get(f"{served}/docs-both", auth=reader)
    assert refused.status_code == 403
    assert refused.json()["missing_scopes"] == ["docs:write"]
    writer = TestAuth("svc", ["docs:write"])
    assert httpx.get(f"{served}/docs-both", auth=writer).json()["missing_scopes"] == ["docs:read"]
    both = token("svc", ["docs:read", "docs:write"], subject="user:bo")
    for scheme in ("Bearer", "bearer", "BEARER"):
        ok = httpx.get(f"{served}/docs-both", headers={"Authorization": f"{scheme} {both}"})
        assert ok.json() == {"sub": "user:bo"}, scheme
    for header in ("Bearer", f"Token {both}", both):
        empty = httpx.get(f"{served}/docs-both", headers={"Authorization": header})
        assert empty.status_code == 401, header
        assert empty.json()["detail"] == "A bearer token is required.", header


def test_openapi_shows_each_operations_scopes(served: str) -> None:
    spec = httpx.get(f"{served}/openapi.json").json()
    read = spec["paths"]["/docs-read"]["get"]
    assert read["security"] == [{"bearer": ["docs:read"]}]
    assert read["x-eco-scopes"] == ["docs:read"]
    assert {"401", "403"} <= set(read["responses"])
    assert spec["paths"]["/open"]["get"]["security"] == []
    assert spec["paths"]["/health"]["get"]["x-eco-public"] is True
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_auth_off_is_refused_off_loopback_and_admits_everyone_on_it(
    redis_url: str, redis_prefix: str
) -> None:
    with pytest.raises(ValueError, match="ECO_AUTH=off is refused"):
        ServiceSettings(service_name="svc", auth="off", host="0.0.0.0")
    app = _app(_router(), auth="off", redis_url=redis_url, redis_prefix=redis_prefix)
    with ThreadedServer(app) as server:
        assert httpx.get(f"{server.url}/docs-read").json()["sub"] == "user:local"


# --- the client side --------------------------------------------------------------------


class _Counting(MintedTokens):
    def __init__(self) -> None:
        super().__init__(["docs:read"])
        self.asked: list[str] = []
        self.forgotten: list[str] = []
        self.stale: str | None = None

    async def token_for(self, audience: str) -> str:
        self.asked.append(audience)
        if self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        return await super().token_for(audience)

    def forget(self, audience: str) -> None:
        self.forgotten.append(audience)


async def test_service_calls_carry_a_token_for_their_audience_only(served: str) -> None:
    tokens = _Counting()
    async with ServiceClient(tokens=tokens, retries=1) as client:
        ok = await client.get(f"{served}/docs-read", service="svc")
        assert ok.status_code == 200
        outside = await client.get(f"{served}/docs-read", service="svc", authenticate=False)
        assert outside.status_code == 401  # a call outside the ecosystem never carries one
        unnamed = await client.get(f"{served}/docs-read")
        assert unnamed.status_code == 401
        own = await client.get(
            f"{served}/docs-read", service="svc", headers={"Authorization": "Bearer x"}
        )
        assert own.status_code == 401  # a caller's own Authorization is left alone
        # a stale cached token: refused once, forgotten, fetched again, and the call succeeds
        tokens.stale = token("svc", ["docs:read"], lifetime_s=-10)
        again = await client.get(f"{served}/docs-read", service="svc")
        assert again.status_code == 200
    assert tokens.asked == ["svc", "svc", "svc"]
    assert tokens.forgotten == ["svc"]

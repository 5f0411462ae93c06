"""`POST /auth/token` (client credentials, bound to the discovery lease), its refusals,
`/.well-known/jwks.json` across a signing-key rotation, and `POST /auth/introspect`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from discovery_helpers import (
    ADMIN,
    bearer_of,
    claims_of,
    client_form,
    create_key,
    key_token,
    post_token,
    service_token,
)

from eco_shared.auth import MAX_LIFETIME_S, ensure_material
from eco_shared.testing.auth import TestAuth, token
from eco_shared.testing.servers import ThreadedServer

SPIFFE = "spiffe://eco.local/service/"
BASE = {"discovery:read", "auth:introspect", "logs:write"}


@pytest.fixture
def url(discovery_server: Callable[..., ThreadedServer]) -> str:
    return discovery_server(default_ttl_s=30).url


def register_as(url: str, service: str, instance_id: str) -> int:
    """Register an instance with `service`'s own token (as its Registrar would)."""
    own = service_token(url, service)
    body = {"name": service, "instance_id": instance_id, "base_url": url}
    response = httpx.post(f"{url}/instances", json=body, headers=bearer_of(own))
    assert response.status_code == 201, response.text
    generation: int = response.json()["generation"]
    return generation


def test_client_credentials_give_a_service_its_policy(url: str) -> None:
    response = post_token(
        url, grant_type="client_credentials", audience="discovery", **client_form("example")
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == MAX_LIFETIME_S
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    claims = claims_of(body["access_token"])
    assert claims["iss"] == "spiffe://eco.local"
    assert claims["sub"] == SPIFFE + "example"
    assert claims["aud"] == "discovery"
    assert claims["exp"] - claims["iat"] == MAX_LIFETIME_S
    assert set(claims["scope"].split()) == BASE | {"discovery:register:example"}
    assert body["scope"] == claims["scope"]
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "ES256"

    orchestrator = claims_of(service_token(url, "orchestrator"))
    assert set(orchestrator["scope"].split()) == BASE | {
        "discovery:register:orchestrator",
        "docs:read",
        "docs:write",
        "gateway:chat",
        "gateway:read",
        "logs:read",
        "prompts:read",
        "prompts:write",
    }
    # the prompt store asks the gateway for variations, and nothing else beyond the base
    prompt_store = claims_of(service_token(url, "prompt-store"))
    assert set(prompt_store["scope"].split()) == BASE | {
        "discovery:register:prompt-store",
        "gateway:chat",
    }
    # `scope` narrows; it never widens
    narrowed = claims_of(service_token(url, "example", scope="discovery:read admin docs:read"))
    assert narrowed["scope"] == "discovery:read"

    # the token works at discovery and says who it is
    whoami = httpx.get(f"{url}/auth/whoami", headers=bearer_of(body["access_token"])).json()
    assert whoami["subject"] == SPIFFE + "example"
    assert whoami["kind"] == "service"


def test_user_keys_carry_the_prompt_scopes_to_the_prompt_store(url: str) -> None:
    """The admin key holds `admin`, so it can make keys with the prompts scopes; a key's
    token for the prompt store carries exactly them, and a reader's key cannot widen."""
    editor = create_key(url, name="prompt editor", scopes=["prompts:read", "prompts:write"])
    assert editor["scopes"] == ["prompts:read", "prompts:write"]
    claims = claims_of(key_token(url, editor["key"], audience="prompt-store"))
    assert claims["aud"] == "prompt-store"
    assert set(claims["scope"].split()) == {"prompts:read", "prompts:write"}

    reader = create_key(url, name="prompt reader", scopes=["prompts:read", "auth:keys"])
    reader_token = key_token(url, reader["key"], audience="prompt-store")
    assert set(claims_of(reader_token)["scope"].split()) == {"prompts:read", "auth:keys"}
    # a key made with the reader's token cannot hold prompts:write
    wider = httpx.post(
        f"{url}/auth/keys",
        json={"name": "escalate", "scopes": ["prompts:write"]},
        headers=bearer_of(key_token(url, reader["key"])),
    )
    assert wider.status_code == 403, wider.text
    assert wider.json()["missing_scopes"] == ["prompts:write"]


def test_tokens_for_other_services_need_a_live_registration_of_the_same_name(url: str) -> None:
    def for_doc_store(**extra: str) -> httpx.Response:
        return post_token(
            url,
            grant_type="client_credentials",
            audience="doc-store",
            **client_form("example", **extra),
        )

    missing = for_doc_store()
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_grant"
    assert "instance_id" in missing.json()["error_description"]
    assert for_doc_store(instance_id="example-1").json()["error"] == "invalid_grant"

    # another service's instance does not bind our tokens
    register_as(url, "other", "other-1")
    assert for_doc_store(instance_id="other-1").json()["error"] == "invalid_grant"

    register_as(url, "example", "example-1")
    bound = for_doc_store(instance_id="example-1")
    assert bound.status_code == 200, bound.text
    assert claims_of(bound.json()["access_token"])["aud"] == "doc-store"

    # once the registration is gone, so is the binding
    own = service_token(url, "example")
    assert httpx.delete(f"{url}/instances/example-1", headers=bearer_of(own)).status_code == 204
    assert for_doc_store(instance_id="example-1").json()["error"] == "invalid_grant"


def test_a_bad_client_secret_is_refused_and_audited_without_the_secret(
    url: str, audit_events: Callable[..., list[dict[str, Any]]]
) -> None:
    wrong = "not-the-secret-" + "x" * 20
    response = post_token(
        url,
        grant_type="client_credentials",
        client_id="example",
        client_secret=wrong,
        audience="discovery",
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()
    # another service's secret is no better
    stolen = client_form("orchestrator")["client_secret"]
    theirs = post_token(
        url,
        grant_type="client_credentials",
        client_id="example",
        client_secret=stolen,
        audience="discovery",
    )
    assert theirs.status_code == 401
    refused = audit_events("token.refused")
    assert [e["data"]["client_id"] for e in refused] == ["example", "example"]
    assert refused[0]["data"]["error"] == "invalid_client"
    assert wrong not in json.dumps(refused)
    assert stolen not in json.dumps(refused)


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password", "username": "u"}, 400, "unsupported_grant_type"),
        ({}, 400, "invalid_request"),
        ({"audience": "discovery"}, 400, "invalid_request"),
        ({"grant_type": "client_credentials", "audience": "discovery"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "audience": "Not A Service"}, 400, "invalid_target"),
        ({"grant_type": "client_credentials", "client_id": "example"}, 401, "invalid_client"),
        (
            {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "audience": "x"},
            400,
            "invalid_request",
        ),
        (
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": "eco_nope",
                "subject_token_type": "urn:eco:params:oauth:token-type:api-key",
                "audience": "discovery",
            },
            400,
            "invalid_grant",
        ),
    ],
)
def test_malformed_token_requests_get_oauth_errors(
    url: str, form: dict[str, str], status: int, error: str
) -> None:
    response = post_token(url, **form)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["error"] == error
    assert problem["error_description"]
    assert problem["status"] == status


def test_the_token_endpoint_takes_one_form_and_nothing_else(url: str) -> None:
    form = {"grant_type": "client_credentials", **client_form("example"), "audience": "discovery"}
    as_json = httpx.post(f"{url}/auth/token", json=form)
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    repeated = httpx.post(
        f"{url}/auth/token",
        content=str(httpx.QueryParams(form).add("audience", "doc-store")).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert repeated.status_code == 400
    assert "more than once" in repeated.json()["error_description"]
    # an empty value is an absent one (RFC 6749 §3.1): here, no client secret
    blank = post_token(url, **{**form, "client_secret": ""})
    assert blank.json()["error"] == "invalid_client"


def test_jwks_shows_current_and_previous_keys_across_a_rotation(
    discovery_server: Callable[..., ThreadedServer], tmp_path: Path
) -> None:
    material = ensure_material(tmp_path / "own-auth")
    url = discovery_server(auth_dir=material.directory).url
    first = httpx.get(f"{url}/.well-known/jwks.json")
    assert first.status_code == 200
    keys = first.json()["keys"]
    assert [k["kty"] for k in keys] == ["EC"]
    assert all("d" not in k for k in keys)  # public halves only
    assert keys[0]["alg"] == "ES256"
    old_kid = keys[0]["kid"]
    secret = material.client_secret("example")
    assert secret is not None

    def own_token() -> str:
        response = post_token(
            url,
            grant_type="client_credentials",
            client_id="example",
            client_secret=secret,
            audience="discovery",
        )
        assert response.status_code == 200, response.text
        value: str = response.json()["access_token"]
        return value

    before, unused = own_token(), own_token()
    assert jwt.get_unverified_header(before)["kid"] == old_kid

    material.rotate_signing_keys()
    kids = [k["kid"] for k in httpx.get(f"{url}/.well-known/jwks.json").json()["keys"]]
    assert len(kids) == 2
    assert kids[1] == old_kid  # current first, then the previous one
    after = own_token()
    assert jwt.get_unverified_header(after)["kid"] == kids[0]
    for value in (before, after):  # both verify
        assert httpx.get(f"{url}/auth/whoami", headers=bearer_of(value)).status_code == 200

    material.rotate_signing_keys()  # the first key is gone now
    assert old_kid not in [
        k["kid"] for k in httpx.get(f"{url}/.well-known/jwks.json").json()["keys"]
    ]
    # (a token verified once is remembered until it expires; one never seen is refused)
    refused = httpx.get(f"{url}/auth/whoami", headers=bearer_of(unused))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert httpx.get(f"{url}/auth/whoami", headers=bearer_of(after)).status_code == 200


def test_introspection_tells_a_service_about_tokens_meant_for_it(url: str) -> None:
    created = create_key(url, name="reader", scopes=["docs:read"])
    user_token = key_token(url, created["key"], audience="doc-store")
    doc_store = bearer_of(service_token(url, "doc-store"))

    def introspect(value: str, headers: dict[str, str] = doc_store) -> httpx.Response:
        return httpx.post(f"{url}/auth/introspect", data={"token": value}, headers=headers)

    answer = introspect(user_token)
    assert answer.status_code == 200
    body = answer.json()
    assert body["active"] is True
    assert body["sub"] == "user:test"  # the key's owner: the admin user that created it
    assert body["aud"] == "doc-store"
    assert body["scope"] == "docs:read"
    assert body["key"] == created["key_id"]
    assert body["token_type"] == "Bearer"

    # a token meant for another service is none of doc-store's business
    gateway_token = key_token(url, created["key"], audience="llm-gateway")
    assert introspect(gateway_token).json() == _inactive()
    # garbage, a foreign signature, an expired token
    assert introspect("not-a-token").json() == _inactive()
    assert introspect(token("doc-store", lifetime_s=-10)).json() == _inactive()

    assert httpx.delete(f"{url}/auth/keys/{created['key_id']}", auth=ADMIN).status_code == 204
    assert introspect(user_token).json() == _inactive()

    # only a caller holding auth:introspect may ask, and it must say what
    reader = TestAuth("discovery", ["docs:read"])
    assert (
        httpx.post(f"{url}/auth/introspect", data={"token": user_token}, auth=reader).status_code
        == 403
    )
    assert httpx.post(f"{url}/auth/introspect", data={"token": user_token}).status_code == 401
    assert httpx.post(f"{url}/auth/introspect", data={}, headers=doc_store).status_code == 400


def _inactive() -> dict[str, Any]:
    return {"active": False}

"""Run grants (a user's token -> a grant bound to one run, for the service it was meant
for) and delegated tokens (the grant -> tokens acting for the user), and Kubernetes
service-account tokens, verified against a real JWKS server started here."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import rsa
from discovery_helpers import (
    ADMIN,
    TOKEN_EXCHANGE,
    bearer_of,
    claims_of,
    client_form,
    create_key,
    key_token,
    post_token,
    service_token,
)
from fastapi import FastAPI
from jwt.algorithms import RSAAlgorithm

from eco_shared.auth import ACCESS_TOKEN_TYPE, JWT_TYPE, RUN_GRANT_TYPE
from eco_shared.testing.auth import TestAuth, token
from eco_shared.testing.servers import ThreadedServer

USER = TestAuth(
    "discovery",
    ["auth:keys", "docs:read", "docs:write", "runs:create", "gateway:chat"],
    subject="user:ada",
)
SPIFFE = "spiffe://eco.local/service/"


@pytest.fixture
def url(discovery_server: Callable[..., ThreadedServer]) -> str:
    return discovery_server(default_ttl_s=30).url


def run_grant(url: str, client: str, user_token: str, run_id: str = "r-1") -> httpx.Response:
    return post_token(
        url,
        grant_type=TOKEN_EXCHANGE,
        subject_token=user_token,
        subject_token_type=ACCESS_TOKEN_TYPE,
        requested_token_type=RUN_GRANT_TYPE,
        resource=f"urn:eco:run:{run_id}",
        **client_form(client),
    )


def delegated(url: str, client: str, grant: str, audience: str) -> httpx.Response:
    return post_token(
        url,
        grant_type=TOKEN_EXCHANGE,
        subject_token=grant,
        subject_token_type=RUN_GRANT_TYPE,
        audience=audience,
        **client_form(client),
    )


def test_a_run_grant_lets_only_its_service_act_for_the_user_until_the_key_goes(
    url: str,
    redis_url: str,
    redis_prefix: str,
    audit_events: Callable[..., list[dict[str, Any]]],
) -> None:
    key = create_key(url, USER, name="runs")
    user_token = key_token(url, key["key"], audience="orchestrator")

    issued = run_grant(url, "orchestrator", user_token)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["issued_token_type"] == RUN_GRANT_TYPE
    assert body["token_type"] == "N_A"
    assert 86000 < body["expires_in"] <= 86400
    grant = body["access_token"]
    assert grant.startswith("ecogrant_")
    grant_id = grant.split("_")[1]
    stored = _grant_record(redis_url, redis_prefix, grant_id)
    assert stored["client"] == "orchestrator"
    assert stored["sub"] == "user:ada"
    assert grant not in str(stored)  # only its HMAC
    assert grant.split("_", 2)[2] not in str(stored)
    assert 86000 < _ttl(redis_url, f"{redis_prefix}auth:grant:{grant_id}") <= 86400
    assert [e["data"]["grant_id"] for e in audit_events("grant.issued")] == [grant_id]

    # the user's token was meant for the orchestrator: nobody else turns it into a grant
    stolen = run_grant(url, "doc-store", user_token)
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    # and the grant is the orchestrator's alone
    assert delegated(url, "doc-store", grant, "doc-store").json()["error"] == "invalid_grant"
    assert delegated(url, "orchestrator", grant[:-2] + "xx", "doc-store").status_code == 400

    acting = delegated(url, "orchestrator", grant, "doc-store")
    assert acting.status_code == 200, acting.text
    claims = claims_of(acting.json()["access_token"])
    assert claims["sub"] == "user:ada"
    assert claims["aud"] == "doc-store"
    assert claims["act"] == {"sub": SPIFFE + "orchestrator"}
    assert claims["grant"] == grant_id
    assert claims["key"] == key["key_id"]
    # the run the grant is bound to rides along, so the target can record it from the token
    assert claims["resource"] == "urn:eco:run:r-1"
    # the orchestrator's policy, narrowed to what the user holds (no gateway:read, no runs:*)
    assert set(claims["scope"].split()) == {"docs:read", "docs:write", "gateway:chat"}

    # the acting chain shows at discovery too
    for_discovery = delegated(url, "orchestrator", grant, "discovery").json()["access_token"]
    me = httpx.get(f"{url}/auth/whoami", headers=bearer_of(for_discovery)).json()
    assert me["acting_chain"] == ["user:ada", SPIFFE + "orchestrator"]
    assert me["grant_id"] == grant_id

    # the user's key is revoked: the run may not act for them any more
    revoked = httpx.delete(f"{url}/auth/keys/{key['key_id']}", auth=USER)
    assert revoked.status_code == 204
    refused = delegated(url, "orchestrator", grant, "doc-store")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert "revoked" in refused.json()["error_description"]
    assert run_grant(url, "orchestrator", user_token).json()["error"] == "invalid_grant"


def _grant_record(redis_url: str, prefix: str, grant_id: str) -> dict[str, str]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        record: dict[str, str] = client.hgetall(f"{prefix}auth:grant:{grant_id}")
    finally:
        client.close()
    return record


def _ttl(redis_url: str, key: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.ttl(key))
    finally:
        client.close()


def test_a_grant_needs_a_run_a_client_and_a_token_meant_for_it(url: str) -> None:
    value = token("orchestrator", ["docs:read"], subject="user:bo")
    no_run = post_token(
        url,
        grant_type=TOKEN_EXCHANGE,
        subject_token=value,
        subject_token_type=ACCESS_TOKEN_TYPE,
        requested_token_type=RUN_GRANT_TYPE,
        **client_form("orchestrator"),
    )
    assert no_run.json()["error"] == "invalid_request"
    anonymous = post_token(
        url,
        grant_type=TOKEN_EXCHANGE,
        subject_token=value,
        subject_token_type=ACCESS_TOKEN_TYPE,
        requested_token_type=RUN_GRANT_TYPE,
        resource="urn:eco:run:r-9",
    )
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    # a token without a key (minted by the test's issuer) still makes a grant; its
    # delegated tokens carry no key, and the scopes still narrow
    grant = run_grant(url, "orchestrator", value).json()["access_token"]
    claims = claims_of(delegated(url, "orchestrator", grant, "doc-store").json()["access_token"])
    assert claims["sub"] == "user:bo"
    assert claims["scope"] == "docs:read"
    assert claims["resource"] == "urn:eco:run:r-1"
    assert "key" not in claims


class Cluster:
    """A Kubernetes API server's service-account token issuer: an RSA key and its JWKS."""

    ISSUER = "https://kubernetes.default.svc.cluster.local"

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k8s-1"
        app = FastAPI()

        @app.get("/openid/v1/jwks")
        def jwks() -> dict[str, Any]:
            jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

        self.server = ThreadedServer(app)

    @property
    def jwks_url(self) -> str:
        return f"{self.server.url}/openid/v1/jwks"

    def token(self, sub: str = "system:serviceaccount:eco:doc-store", **over: Any) -> str:
        """A projected service-account token, as the cluster signs it (claims overridable)."""
        now = int(time.time())
        claims = {"iss": self.ISSUER, "sub": sub, "aud": ["eco"], "iat": now, "exp": now + 600}
        return jwt.encode({**claims, **over}, self.key, "RS256", {"kid": self.kid})


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    found = Cluster()
    found.server.start()
    yield found
    found.server.stop()


def k8s_exchange(url: str, token: str, audience: str = "discovery", **form: str) -> httpx.Response:
    return post_token(
        url,
        grant_type=TOKEN_EXCHANGE,
        subject_token=token,
        subject_token_type=JWT_TYPE,
        audience=audience,
        **form,
    )


def test_a_kubernetes_service_account_token_acts_as_its_service(
    discovery_server: Callable[..., ThreadedServer], cluster: Cluster
) -> None:
    url = discovery_server(
        auth_k8s_jwks_url=cluster.jwks_url, auth_k8s_issuer=Cluster.ISSUER, default_ttl_s=30
    ).url
    answer = k8s_exchange(url, cluster.token())
    assert answer.status_code == 200, answer.text
    claims = claims_of(answer.json()["access_token"])
    assert claims["sub"] == SPIFFE + "doc-store"
    assert claims["aud"] == "discovery"
    assert "discovery:register:doc-store" in claims["scope"].split()

    # bound to the lease like any service token
    assert k8s_exchange(url, cluster.token(), "llm-gateway").json()["error"] == "invalid_grant"
    own = bearer_of(answer.json()["access_token"])
    body = {"name": "doc-store", "instance_id": "ds-1", "base_url": url}
    assert httpx.post(f"{url}/instances", json=body, headers=own).status_code == 201
    bound = k8s_exchange(url, cluster.token(), "llm-gateway", instance_id="ds-1")
    assert bound.status_code == 200, bound.text

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    good = {"iss": Cluster.ISSUER, "sub": "system:serviceaccount:eco:doc-store", "aud": ["eco"]}
    for bad in (
        cluster.token(aud=["kubernetes"]),  # not meant for us
        cluster.token(iss="https://another-cluster"),
        cluster.token(iat=now - 1200, exp=now - 600),  # expired
        cluster.token(sub="someone"),  # not a service account
        cluster.token(sub="system:serviceaccount:eco:Not_A_Service"),
        jwt.encode({**good, "iat": now, "exp": now + 60}, other, "RS256", {"kid": "k8s-1"}),
        jwt.encode({**good, "iat": now, "exp": now + 60}, other, "RS256", {"kid": "unknown"}),
        jwt.encode(
            {**good, "iat": now, "exp": now + 60}, "a-shared-secret-long-enough-for-hs256!", "HS256"
        ),
        jwt.encode({**good, "iat": now, "exp": now + 60}, None, "none"),
    ):
        refused = k8s_exchange(url, bad)
        assert refused.status_code == 400, bad
        assert refused.json()["error"] == "invalid_grant"


def test_without_a_cluster_no_service_account_token_is_accepted(url: str, cluster: Cluster) -> None:
    refused = k8s_exchange(url, cluster.token())
    assert refused.status_code == 400
    assert "ECO_AUTH_K8S_JWKS_URL" in refused.json()["error_description"]
    assert httpx.get(f"{url}/auth/whoami", auth=ADMIN).status_code == 200
    assert service_token(url, "doc-store")

"""`/auth/keys` and the API key exchange: ownership, narrowing, limits, rotation with a
grace period, revocation (at once, announced, audited), expiry, and the bootstrap key."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from discovery_helpers import ADMIN, bearer_of, claims_of, create_key, key_exchange, key_token

from eco_discovery.settings import DiscoverySettings
from eco_shared.auth import new_key
from eco_shared.testing import wait_until
from eco_shared.testing.auth import TestAuth, session_material
from eco_shared.testing.servers import ThreadedServer

ALICE = TestAuth("discovery", ["auth:keys", "docs:read", "docs:write"], subject="user:alice")
BOB = TestAuth("discovery", ["auth:keys", "docs:read"], subject="user:bob")


@pytest.fixture
def url(discovery_server: Callable[..., ThreadedServer]) -> str:
    return discovery_server(default_ttl_s=30).url


def test_a_key_belongs_to_its_creator_and_never_holds_more(
    url: str, audit_events: Callable[..., list[dict[str, Any]]], redis_url: str, redis_prefix: str
) -> None:
    mine = create_key(url, ALICE, name="laptop")
    assert mine["owner"] == "user:alice"
    assert mine["scopes"] == ["auth:keys", "docs:read", "docs:write"]  # the creator's
    assert mine["status"] == "active"
    assert mine["key"].startswith(f"eco_{mine['key_id']}_")
    narrow = create_key(url, ALICE, name="ci", scopes=["docs:read"])
    assert narrow["scopes"] == ["docs:read"]

    wider = httpx.post(
        f"{url}/auth/keys", json={"name": "x", "scopes": ["docs:read", "admin"]}, auth=ALICE
    )
    assert wider.status_code == 403
    assert wider.json()["missing_scopes"] == ["admin"]
    assert (
        httpx.post(
            f"{url}/auth/keys", json={"name": "x"}, auth=TestAuth("discovery", ["docs:read"])
        ).status_code
        == 403
    )

    # the secret is shown once: never in a list, a read, Redis or the audit stream
    listed = httpx.get(f"{url}/auth/keys", auth=ALICE).json()["items"]
    assert sorted(k["key_id"] for k in listed) == sorted([mine["key_id"], narrow["key_id"]])
    one = httpx.get(f"{url}/auth/keys/{mine['key_id']}", auth=ALICE).json()
    for shown in [*listed, one]:
        assert "key" not in shown
        assert not any(k in shown for k in ("hash", "prev_hash"))
    stored = _redis_dump(redis_url, redis_prefix)
    assert mine["key"] not in stored
    assert mine["key"][16:] not in stored  # not even the secret part
    created = audit_events("key.created")
    mine_created = [e for e in created if e["data"]["key_id"] == mine["key_id"]]
    assert mine_created[0]["data"]["owner"] == "user:alice"
    assert mine_created[0]["data"]["by"] == "user:alice"
    assert mine["key"] not in json.dumps(created)

    # another principal's key does not exist for them
    for response in (
        httpx.get(f"{url}/auth/keys/{mine['key_id']}", auth=BOB),
        httpx.post(f"{url}/auth/keys/{mine['key_id']}/rotate", json={}, auth=BOB),
        httpx.delete(f"{url}/auth/keys/{mine['key_id']}", auth=BOB),
    ):
        assert response.status_code == 404, response.request
        assert response.json()["title"] == "API key not found"
    assert httpx.get(f"{url}/auth/keys", auth=BOB).json()["items"] == []
    assert httpx.get(f"{url}/auth/keys/{mine['key_id']}", auth=ALICE).json()["status"] == "active"
    # an admin sees every key
    everyone = {k["key_id"] for k in httpx.get(f"{url}/auth/keys", auth=ADMIN).json()["items"]}
    assert {mine["key_id"], narrow["key_id"]} <= everyone


def _redis_dump(redis_url: str, prefix: str) -> str:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        values = [
            json.dumps(client.hgetall(k))
            for k in client.scan_iter(f"{prefix}auth:*")
            if client.type(k) == "hash"
        ]
    finally:
        client.close()
    return "\n".join(values)


def test_an_api_key_becomes_a_short_token_for_one_audience(url: str) -> None:
    created = create_key(
        url,
        ALICE,
        name="gateway",
        scopes=["docs:read"],
        models=["m-small", "m-large"],
        rpm=30,
        budget_tokens=1000,
        ttl_s=60,
    )
    response = key_exchange(url, created["key"], "llm-gateway")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] <= 60  # never past the key's expiry
    claims = claims_of(body["access_token"])
    assert claims["sub"] == "user:alice"
    assert claims["aud"] == "llm-gateway"
    assert claims["scope"] == "docs:read"
    assert claims["key"] == created["key_id"]
    assert claims["limits"] == {"models": ["m-small", "m-large"], "rpm": 30, "budget_tokens": 1000}

    # a key made with a token from this key inherits its bounds
    token = key_token(url, created["key"], "discovery")
    child = httpx.post(
        f"{url}/auth/keys",
        json={"name": "child", "scopes": ["docs:read"], "models": ["m-small", "other"]},
        headers=bearer_of(token),
    )
    # the key holds docs:read only, not auth:keys: it cannot make keys at all
    assert child.status_code == 403

    keymaker = create_key(
        url, ALICE, name="keymaker", scopes=["auth:keys", "docs:read"], rpm=10, models=["m-small"]
    )
    child = httpx.post(
        f"{url}/auth/keys",
        json={"name": "child", "models": ["m-small", "other"], "rpm": 100},
        headers=bearer_of(key_token(url, keymaker["key"])),
    )
    assert child.status_code == 201, child.text
    assert child.json()["models"] == ["m-small"]
    assert child.json()["rpm"] == 10
    assert child.json()["owner"] == "user:alice"

    # what is not a valid key gets nothing
    value = created["key"]
    for bad in (
        "eco_nothing",
        value[:-1] + ("A" if value[-1] != "A" else "B"),  # checksum
        new_key(created["key_id"]).value,  # the right id, another secret
        new_key().value,  # unknown id
    ):
        refused = key_exchange(url, bad)
        assert refused.status_code == 400, bad
        assert refused.json()["error"] == "invalid_grant"


def test_a_rotated_keys_old_secret_works_only_inside_its_grace(url: str) -> None:
    created = create_key(url, ALICE, name="rotating")
    old = created["key"]
    rotated = httpx.post(
        f"{url}/auth/keys/{created['key_id']}/rotate", json={"grace_s": 2}, auth=ALICE
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["key"]
    assert rotated.json()["key_id"] == created["key_id"]
    assert new != old
    assert rotated.json()["previous_secret_valid_until"] is not None
    assert key_exchange(url, new).status_code == 200
    assert key_exchange(url, old).status_code == 200  # inside the grace period
    wait_until(lambda: key_exchange(url, old).status_code == 400, timeout_s=6)
    late = key_exchange(url, old).json()
    assert "grace period" in late["error_description"]
    assert key_exchange(url, new).status_code == 200

    # no grace: the old secret stops at once
    again = httpx.post(f"{url}/auth/keys/{created['key_id']}/rotate", auth=ALICE)
    assert again.status_code == 200
    assert key_exchange(url, new).status_code == 400
    assert key_exchange(url, again.json()["key"]).status_code == 200


async def test_a_revoked_key_is_refused_by_discovery_at_once_and_announced(
    url: str,
    redis_client: aioredis.Redis,
    redis_prefix: str,
    audit_events: Callable[..., list[dict[str, Any]]],
) -> None:
    created = create_key(url, ALICE, name="doomed", scopes=["auth:keys", "docs:read"])
    token = key_token(url, created["key"])
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/auth/whoami", headers=bearer_of(token))).status_code == 200
        pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(f"{redis_prefix}eco.auth.revocations")
        revoked = await http.delete(f"/auth/keys/{created['key_id']}", auth=ALICE)
        assert revoked.status_code == 204
        # the token minted before is refused at once (its status is not cached past this)
        refused = await http.get("/auth/whoami", headers=bearer_of(token))
        assert refused.status_code == 401
        assert "revoked" in refused.json()["detail"]
        message = await _next_message(pubsub)
        assert message == created["key_id"]
        await pubsub.aclose()
        assert (await http.delete(f"/auth/keys/{created['key_id']}", auth=ALICE)).status_code == 204
        gone = await http.get(f"/auth/keys/{created['key_id']}", auth=ALICE)
        assert gone.status_code == 404
        assert gone.json()["title"] == "API key revoked"
        assert gone.json()["revoked_at"]
        rotate = await http.post(f"/auth/keys/{created['key_id']}/rotate", auth=ALICE)
        assert rotate.status_code == 404
        listed = (await http.get("/auth/keys", auth=ALICE)).json()["items"]
        assert created["key_id"] not in [k["key_id"] for k in listed]
        everything = await http.get("/auth/keys", params={"include_revoked": "true"}, auth=ALICE)
        assert [k["status"] for k in everything.json()["items"]] == ["revoked"]
    assert key_exchange(url, created["key"]).json()["error_description"] == (
        "the API key has been revoked"
    )
    events = audit_events("key.revoked")
    assert len(events) == 1  # the second DELETE changed nothing
    assert events[0]["data"] == {
        "key_id": created["key_id"],
        "owner": "user:alice",
        "scopes": ["auth:keys", "docs:read"],
        "by": "user:alice",
    }


async def _next_message(pubsub: Any) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = await pubsub.get_message(timeout=0.5)
        if message is not None:
            data = message["data"]
            return data.decode() if isinstance(data, bytes) else str(data)
        await asyncio.sleep(0.05)
    raise TimeoutError("no revocation was published")


def test_an_expired_key_stops_working(url: str) -> None:
    created = create_key(url, ALICE, name="brief", ttl_s=3)
    assert created["expires_at"] is not None
    assert key_exchange(url, created["key"]).status_code == 200
    wait_until(lambda: key_exchange(url, created["key"]).status_code == 400, timeout_s=10)
    assert key_exchange(url, created["key"]).json()["error_description"] == (
        "the API key has been expired"
    )
    listed = httpx.get(f"{url}/auth/keys", auth=ALICE).json()["items"]
    assert [k["status"] for k in listed] == ["expired"]
    # an expiry in the past is accepted as asked: the key is born expired
    past = create_key(url, ALICE, name="past", expires_at="2001-01-01T00:00:00Z")
    assert past["status"] == "expired"


def test_the_bootstrap_admin_key_is_made_once_even_with_two_replicas(
    discovery_server: Callable[..., ThreadedServer],
    audit_events: Callable[..., list[dict[str, Any]]],
) -> None:
    admin_key = session_material().admin_key()
    assert admin_key is not None
    one = discovery_server().url
    two = discovery_server().url
    token = key_token(two, admin_key.value)
    me = httpx.get(f"{one}/auth/whoami", headers=bearer_of(token)).json()
    assert me["subject"] == "user:admin"
    assert me["scopes"] == ["admin"]
    assert me["key_id"] == admin_key.key_id
    made = [e for e in audit_events("key.created") if e["data"]["key_id"] == admin_key.key_id]
    assert len(made) == 1
    assert made[0]["data"]["by"] == "bootstrap"


def test_the_bootstrap_key_can_come_from_the_environment(
    discovery_server: Callable[..., ThreadedServer],
) -> None:
    key = new_key()
    url = discovery_server(auth_bootstrap_key=key.value).url
    assert claims_of(key_token(url, key.value))["sub"] == "user:admin"
    with pytest.raises(ValueError, match="not an API key"):
        DiscoverySettings(auth_bootstrap_key="eco_not-a-key")

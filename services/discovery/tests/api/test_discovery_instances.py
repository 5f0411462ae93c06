"""`/instances` and the query routes against a real discovery process: contract and bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from eco_shared.testing import wait_until
from eco_shared.testing.auth import TestAuth
from eco_shared.testing.servers import ThreadedServer

ADMIN = TestAuth("discovery")  # an admin user's tokens, minted per request


@pytest.fixture
def discovery(discovery_server: Callable[..., ThreadedServer]) -> ThreadedServer:
    return discovery_server(default_ttl_s=15)


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "widgets",
        "instance_id": "widgets-1",
        "base_url": "http://127.0.0.1:9/",
        "version": "1.2.0",
        "tags": ["api", "api", "beta"],
        "meta": {"zone": "a"},
        **overrides,
    }


def test_register_heartbeat_deregister_contract(
    discovery: ThreadedServer, bus_events: Callable[..., list[dict[str, Any]]]
) -> None:
    url = discovery.url
    first = httpx.post(f"{url}/instances", json=body(), auth=ADMIN)
    assert first.status_code == 201
    lease = first.json()
    assert lease["ttl_s"] == 15.0
    assert lease["created"] is True

    again = httpx.post(f"{url}/instances", json=body(), auth=ADMIN)
    assert again.status_code == 200  # idempotent re-registration
    assert again.json()["created"] is False
    # ... as a new registration: heartbeats must name the generation it answered with
    generation = again.json()["generation"]
    assert generation > lease["generation"]
    registered = [
        e for e in bus_events("service.registered") if e["data"]["instance_id"] == "widgets-1"
    ]
    assert len(registered) == 1  # nothing changed, nothing announced

    record = httpx.get(f"{url}/instances/widgets-1", auth=ADMIN).json()
    assert record["base_url"] == "http://127.0.0.1:9"  # trailing slash normalized
    assert record["tags"] == ["api", "beta"]
    assert record["meta"] == {"zone": "a"}
    assert record["lease_status"] == "alive"
    assert record["owner"] == "user:test"  # the token's subject
    assert record["generation"] == generation

    heartbeat = f"{url}/instances/widgets-1/heartbeat"
    renewed = httpx.put(heartbeat, params={"generation": generation}, auth=ADMIN)
    assert renewed.status_code == 200
    assert renewed.json()["lease_expires_at"] >= lease["lease_expires_at"]
    assert renewed.json()["generation"] == generation
    stale = httpx.put(heartbeat, params={"generation": lease["generation"]}, auth=ADMIN)
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["current_generation"] == generation
    assert httpx.put(heartbeat, auth=ADMIN).status_code == 422  # a heartbeat names one

    # A new version is announced again and its capabilities are read again.
    bumped = httpx.post(f"{url}/instances", json=body(version="1.3.0"), auth=ADMIN)
    assert bumped.status_code == 200
    versions = [
        e["data"]["version"]
        for e in bus_events("service.registered")
        if e["data"]["instance_id"] == "widgets-1"
    ]
    assert versions == ["1.2.0", "1.3.0"]

    assert httpx.delete(f"{url}/instances/widgets-1", auth=ADMIN).status_code == 204
    assert httpx.get(f"{url}/instances/widgets-1", auth=ADMIN).status_code == 404
    assert httpx.get(f"{url}/services/widgets", auth=ADMIN).status_code == 404
    gone = bus_events("service.deregistered")
    assert [e["data"]["instance_id"] for e in gone] == ["widgets-1"]


def test_unreachable_instance_is_probed_critical_and_its_spec_error_recorded(
    discovery: ThreadedServer,
) -> None:
    url = discovery.url
    assert httpx.post(f"{url}/instances", json=body(), auth=ADMIN).status_code == 201

    def probed() -> dict[str, Any] | None:
        record: dict[str, Any] = httpx.get(f"{url}/instances/widgets-1", auth=ADMIN).json()
        done = record["check"]["status"] == "critical" and record["capabilities_status"] == "error"
        return record if done else None

    record = wait_until(probed, timeout_s=10)
    assert isinstance(record, dict)
    assert record["status"] == "critical"
    assert "ConnectError" in record["check"]["output"]
    assert record["check"]["time"] is not None
    assert record["capabilities_error"]
    assert httpx.get(f"{url}/services/widgets", params={"healthy": "true"}, auth=ADMIN).json() == {
        "name": "widgets",
        "instances": [],
    }
    problem = httpx.get(f"{url}/services/widgets/openapi", auth=ADMIN)
    assert problem.status_code == 404
    assert "ConnectError" in problem.json()["detail"]
    summary = {s["name"]: s for s in httpx.get(f"{url}/services", auth=ADMIN).json()["services"]}
    assert summary["widgets"]["status"] == "critical"
    assert summary["widgets"]["critical"] == 1


BAD_REGISTRATIONS: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "name"),
    ({"name": "has space"}, "name"),
    ({"instance_id": ""}, "instance_id"),
    ({"base_url": "not a url"}, "base_url"),
    ({"base_url": "ftp://host/x"}, "base_url"),
    ({"base_url": "http://"}, "base_url"),
    ({"base_url": "http://host:99999"}, "base_url"),
    ({"base_url": "http://user:pw@host"}, "base_url"),
    ({"base_url": "http://host:0"}, "base_url"),
    ({"base_url": "http://host/path?query=1"}, "base_url"),
    ({"tags": ["two words"]}, "tags.0"),  # the item is named since the schema holds the rule
    ({"tags": [f"t{i}" for i in range(40)]}, "tags"),
    ({"meta": {"blob": "x" * 5000}}, "meta"),
    ({"ttl_s": 0}, "ttl_s"),
    ({"ttl_s": 10_000}, "ttl_s"),
    ({"version": ""}, "version"),
]


def test_bad_registrations_get_problem_json(discovery: ThreadedServer) -> None:
    for overrides, field in BAD_REGISTRATIONS:
        response = httpx.post(f"{discovery.url}/instances", json=body(**overrides), auth=ADMIN)
        assert response.status_code == 422, overrides
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 422
        assert field in {e["field"] for e in problem["errors"]}, overrides
        for error in problem["errors"]:  # one shape, from the schema or from the limits
            assert set(error) == {"loc", "field", "msg", "type"}, overrides
            assert error["loc"][0] == "body", overrides
    assert httpx.get(f"{discovery.url}/instances/widgets-1", auth=ADMIN).status_code == 404


def test_malformed_and_unknown_get_4xx(discovery: ThreadedServer) -> None:
    url = discovery.url
    malformed = httpx.post(
        f"{url}/instances",
        content=b"{not json",
        headers={"content-type": "application/json"},
        auth=ADMIN,
    )
    assert malformed.status_code == 400
    for response in (
        httpx.put(f"{url}/instances/nobody/heartbeat", params={"generation": 1}, auth=ADMIN),
        httpx.delete(f"{url}/instances/nobody", auth=ADMIN),
        httpx.get(f"{url}/instances/nobody", auth=ADMIN),
        httpx.get(f"{url}/services/nobody", auth=ADMIN),
        httpx.get(f"{url}/services/nobody/openapi", auth=ADMIN),
    ):
        assert response.status_code == 404, response.request.url
        assert response.headers["content-type"] == "application/problem+json"
        assert "nobody" in response.json()["detail"]
        assert response.json()["title"].endswith("not found")
    # an id or name that could never be registered is simply not found
    assert httpx.get(f"{url}/instances/%7Binstance_id%7D", auth=ADMIN).status_code == 404
    assert httpx.get(f"{url}/services/has%20space", auth=ADMIN).status_code == 404
    assert httpx.get(f"{url}/capabilities", params={"limit": 0}, auth=ADMIN).status_code == 422
    assert httpx.get(f"{url}/capabilities", params={"limit": 1000}, auth=ADMIN).status_code == 422
    assert httpx.get(f"{url}/watch", params={"since": "yesterday"}, auth=ADMIN).status_code == 422
    oversized = httpx.post(f"{url}/instances", content=b"x" * (2 * 1024 * 1024), auth=ADMIN)
    assert oversized.status_code == 413


def test_registry_limit(discovery_server: Callable[..., ThreadedServer]) -> None:
    # discovery's own record counts: a limit of 2 leaves room for one more.
    discovery = discovery_server(max_instances=2)
    wait_until(
        lambda: httpx.get(f"{discovery.url}/services", auth=ADMIN).json()["services"], timeout_s=5
    )
    assert httpx.post(f"{discovery.url}/instances", json=body(), auth=ADMIN).status_code == 201
    full = httpx.post(f"{discovery.url}/instances", json=body(instance_id="widgets-2"), auth=ADMIN)
    assert full.status_code == 507
    assert full.headers["content-type"] == "application/problem+json"
    # Re-registering a known instance is still fine.
    assert httpx.post(f"{discovery.url}/instances", json=body(), auth=ADMIN).status_code == 200

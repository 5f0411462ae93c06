"""Real processes: registration, a SIGKILLed instance's lapse and eviction, restarts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth, bearer

ADMIN = TestAuth("discovery")  # an admin user's tokens, minted per request


pytestmark = pytest.mark.slow


def test_killed_instance_turns_critical_then_is_removed_with_events(
    start_discovery: Callable[..., ServiceProcess],
    start_example: Callable[..., ServiceProcess],
    watch: Callable[..., Any],
    bus_events: Callable[..., list[dict[str, Any]]],
    status_of: Callable[[str, str], str | None],
) -> None:
    discovery = start_discovery()
    feed = watch(discovery.url)
    a = start_example(discovery.url, "example-a")
    b = start_example(discovery.url, "example-b")

    def both_passing() -> bool:
        body = httpx.get(
            f"{discovery.url}/services/example", params={"healthy": "true"}, auth=ADMIN
        ).json()
        return {i["instance_id"] for i in body.get("instances", [])} == {"example-a", "example-b"}

    wait_until(both_passing, timeout_s=10)
    listed = {
        s["name"]: s for s in httpx.get(f"{discovery.url}/services", auth=ADMIN).json()["services"]
    }
    assert listed["example"]["instances"] == 2
    assert listed["example"]["passing"] == 2
    assert listed["discovery"]["instances"] == 1  # discovery lists itself

    a.kill()  # SIGKILL: no deregistration, the lease simply stops being renewed

    def lapsed() -> dict[str, Any] | None:
        record: dict[str, Any] = httpx.get(
            f"{discovery.url}/instances/example-a", auth=ADMIN
        ).json()
        return record if record["lease_status"] == "expired" else None

    record = wait_until(lapsed, timeout_s=5)
    assert isinstance(record, dict)
    assert record["status"] == "critical"
    assert record["critical_since"] is not None
    # The probe may have noticed before the lease lapsed; either way it is not healthy.
    healthy = httpx.get(
        f"{discovery.url}/services/example", params={"healthy": "true"}, auth=ADMIN
    ).json()
    assert [i["instance_id"] for i in healthy["instances"]] == ["example-b"]
    everything = httpx.get(f"{discovery.url}/services/example", auth=ADMIN).json()
    assert len(everything["instances"]) == 2

    # Removed after the grace period (1.5 s after its lease lapsed).
    wait_until(lambda: status_of(discovery.url, "example-a") is None, timeout_s=6)
    assert status_of(discovery.url, "example-b") == "passing"

    # Every change arrived on the live watch feed and on eco.events.
    wait_until(lambda: feed.of("service.deregistered", "example-a"), timeout_s=3)
    for kind in ("service.registered", "service.health_changed", "service.deregistered"):
        assert feed.of(kind, "example-a"), kind
        assert [e for e in bus_events(kind) if e["data"]["instance_id"] == "example-a"], kind
    went_critical = feed.of("service.health_changed", "example-a")
    assert went_critical[-1]["data"]["status"] == "critical"
    gone = feed.of("service.deregistered", "example-a")
    assert len(gone) == 1
    assert gone[0]["data"]["reason"] == "expired"
    assert not feed.of("service.deregistered", "example-b")
    assert b.alive

    # A graceful stop deregisters at once.
    b.terminate()
    wait_until(lambda: feed.of("service.deregistered", "example-b"), timeout_s=5)
    assert feed.of("service.deregistered", "example-b")[0]["data"]["reason"] == "deregistered"
    assert httpx.get(f"{discovery.url}/services/example", auth=ADMIN).status_code == 404


def test_registry_survives_a_discovery_restart(
    start_discovery: Callable[..., ServiceProcess],
    start_example: Callable[..., ServiceProcess],
    status_of: Callable[[str, str], str | None],
) -> None:
    # A grace period longer than the restart takes: the record must be found, not re-created.
    slow = {"ECO_DISCOVERY_DEFAULT_TTL_S": "3", "ECO_DISCOVERY_DEREGISTER_CRITICAL_AFTER_S": "60"}
    discovery = start_discovery(**slow)
    start_example(discovery.url, "example-r", ECO_EXAMPLE_TAGS='["docs"]')
    wait_until(lambda: status_of(discovery.url, "example-r") == "passing", timeout_s=10)
    wait_until(
        lambda: (
            httpx.get(f"{discovery.url}/instances/example-r", auth=ADMIN).json()[
                "capabilities_status"
            ]
            == "ok"
        ),
        timeout_s=10,
    )
    before = httpx.get(f"{discovery.url}/instances/example-r", auth=ADMIN).json()

    discovery.kill()
    restarted = start_discovery(port=discovery.port, **slow)
    after = httpx.get(f"{restarted.url}/instances/example-r", auth=ADMIN).json()
    for field in ("name", "base_url", "version", "tags", "registered_at", "capabilities_count"):
        assert after[field] == before[field], field
    assert after["tags"] == ["docs"]
    spec = httpx.get(f"{restarted.url}/services/example/openapi", auth=ADMIN).json()
    assert "/items/{item_id}" in spec["paths"]
    # The instance's heartbeats reach the new process and keep it passing.
    beat = after["last_heartbeat"]
    wait_until(
        lambda: (
            httpx.get(f"{restarted.url}/instances/example-r", auth=ADMIN).json()["last_heartbeat"]
            != beat
        ),
        timeout_s=5,
    )
    wait_until(lambda: status_of(restarted.url, "example-r") == "passing", timeout_s=5)
    assert (
        httpx.get(f"{restarted.url}/instances/example-r", auth=ADMIN).json()["registered_at"]
        == (before["registered_at"])
    )


def test_two_replicas_give_one_deregistered_event_per_expiry(
    start_discovery: Callable[..., ServiceProcess],
    bus_events: Callable[..., list[dict[str, Any]]],
    status_of: Callable[[str, str], str | None],
) -> None:
    # Reap as often as possible on both replicas, so they race for every transition; three
    # lapses at once must not look like a mass failure here (share 1 never triggers).
    fast = {
        "ECO_DISCOVERY_REAP_INTERVAL_S": "0.01",
        "ECO_DISCOVERY_SELF_PRESERVATION_SHARE": "1",
        "ECO_DISCOVERY_DEREGISTER_CRITICAL_AFTER_S": "3",
    }
    one = start_discovery(**fast)
    two = start_discovery(**fast)
    ids = [f"short-{i}" for i in range(3)]
    with httpx.Client(headers=bearer("discovery")) as http:
        for n, instance_id in enumerate(ids):
            response = http.post(
                f"{(one, two)[n % 2].url}/instances",
                json={
                    "name": "short",
                    "instance_id": instance_id,
                    "base_url": one.url,  # probes pass; only the lease decides
                    "ttl_s": 0.5,
                },
            )
            assert response.status_code == 201
        # Both replicas answer the same (lapsed or not, within the grace period).
        assert len(http.get(f"{two.url}/services/short").json()["instances"]) == 3
        assert len(http.get(f"{one.url}/services/short").json()["instances"]) == 3
    for instance_id in ids:
        wait_until(lambda i=instance_id: status_of(one.url, i) is None, timeout_s=8)
    assert httpx.get(f"{two.url}/services/short", auth=ADMIN).status_code == 404

    gone = bus_events("service.deregistered")
    for instance_id in ids:
        mine = [e for e in gone if e["data"]["instance_id"] == instance_id]
        assert len(mine) == 1, mine
        critical = [
            e
            for e in bus_events("service.health_changed")
            if e["data"]["instance_id"] == instance_id and e["data"]["status"] == "critical"
        ]
        assert len(critical) == 1, critical
    # Each replica is listed with its own lease.
    names = {s["name"]: s for s in httpx.get(f"{one.url}/services", auth=ADMIN).json()["services"]}
    assert names["discovery"]["instances"] == 2

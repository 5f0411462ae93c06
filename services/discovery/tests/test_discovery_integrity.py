"""Registry integrity with real processes: a token for one service cannot register, renew or
remove another service's instance, nor rebind its id; the real instance stays reachable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from discovery_helpers import ADMIN, bearer_of, service_token

from eco_shared.testing import ServiceProcess, wait_until

pytestmark = pytest.mark.slow

SPIFFE = "spiffe://eco.local/service/"


def test_a_service_cannot_take_over_another_services_instance(
    start_discovery: Callable[..., ServiceProcess],
    start_example: Callable[..., ServiceProcess],
    audit_events: Callable[..., list[dict[str, Any]]],
    status_of: Callable[[str, str], str | None],
) -> None:
    discovery = start_discovery(ECO_DISCOVERY_DEFAULT_TTL_S="3")
    url = discovery.url
    real = start_example(url, "example-b")
    wait_until(lambda: status_of(url, "example-b") == "passing", timeout_s=20)
    before = httpx.get(f"{url}/instances/example-b", auth=ADMIN).json()
    assert before["owner"] == SPIFFE + "example"  # it registered itself, with its own token
    assert before["base_url"] == real.url
    generation = before["generation"]

    attacker = bearer_of(service_token(url, "fuzzer"))  # a real token, for another service
    hijack = {"name": "example", "instance_id": "example-b", "base_url": "http://127.0.0.1:9"}
    steal = httpx.post(f"{url}/instances", json=hijack, headers=attacker)
    assert steal.status_code == 403
    assert steal.json()["missing_scopes"] == ["discovery:register:example"]
    rename = httpx.post(f"{url}/instances", json={**hijack, "name": "fuzzer"}, headers=attacker)
    assert rename.status_code == 409
    beat = f"{url}/instances/example-b/heartbeat"
    assert httpx.put(beat, params={"generation": generation}, headers=attacker).status_code == 403
    assert httpx.delete(f"{url}/instances/example-b", headers=attacker).status_code == 403
    # the stock fuzzer runs as an admin user: even it cannot rebind the id
    assert httpx.post(f"{url}/instances", json=hijack, auth=ADMIN).status_code == 409
    renamed = {**hijack, "name": "fuzzer"}
    assert httpx.post(f"{url}/instances", json=renamed, auth=ADMIN).status_code == 409

    # the attacker keeps its own instances, under its own name
    own = {"name": "fuzzer", "instance_id": "fuzzer-1", "base_url": url}
    mine = httpx.post(f"{url}/instances", json=own, headers=attacker)
    assert mine.status_code == 201
    own_beat = httpx.put(
        f"{url}/instances/fuzzer-1/heartbeat",
        params={"generation": mine.json()["generation"]},
        headers=attacker,
    )
    assert own_beat.status_code == 200
    assert httpx.delete(f"{url}/instances/fuzzer-1", headers=attacker).status_code == 204

    # the real instance is untouched and still renews its own registration
    after = httpx.get(f"{url}/instances/example-b", auth=ADMIN).json()
    for field in ("name", "base_url", "owner", "generation", "registered_at"):
        assert after[field] == before[field], field
    wait_until(
        lambda: (
            httpx.get(f"{url}/instances/example-b", auth=ADMIN).json()["last_heartbeat"]
            != after["last_heartbeat"]
        ),
        timeout_s=5,
    )
    healthy = httpx.get(f"{url}/services/example", params={"healthy": "true"}, auth=ADMIN)
    assert [(i["instance_id"], i["base_url"]) for i in healthy.json()["instances"]] == [
        ("example-b", real.url)
    ]
    refused = [e["data"] for e in audit_events("registration.refused")]
    by_fuzzer = [(e["action"], e["instance_id"]) for e in refused if e["by"] == SPIFFE + "fuzzer"]
    assert by_fuzzer == [
        ("register", "example-b"),
        ("register", "example-b"),
        ("heartbeat", "example-b"),
        ("deregister", "example-b"),
    ]

    # an admin may remove it; the instance registers afresh at its next heartbeat
    assert httpx.delete(f"{url}/instances/example-b", auth=ADMIN).status_code == 204
    removed = audit_events("instance.force_removed")
    assert [e["data"]["owner"] for e in removed] == [SPIFFE + "example"]

    def back() -> dict[str, Any] | None:
        response = httpx.get(f"{url}/instances/example-b", auth=ADMIN)
        return response.json() if response.status_code == 200 else None

    again = wait_until(back, timeout_s=10)
    assert isinstance(again, dict)
    assert again["generation"] > generation
    assert again["owner"] == SPIFFE + "example"
    assert again["base_url"] == real.url

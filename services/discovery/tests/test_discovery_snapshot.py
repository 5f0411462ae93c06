"""The hot read from memory: what it keeps is dropped by every write of this replica and by
the registry events of another, so no reader sees an answer older than the registry's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from eco_shared.auth import service_subject
from eco_shared.testing import wait_until
from eco_shared.testing.auth import TestAuth, bearer
from eco_shared.testing.servers import ThreadedServer

READER = TestAuth("discovery", ("discovery:read",))
# long enough that only a dropped answer, never its age, can explain a fresh one
KEEP_S = 10


def _register(url: str, instance_id: str, name: str = "snap") -> int:
    registrar = bearer("discovery", (f"discovery:register:{name}",), subject=service_subject(name))
    body = {"name": name, "instance_id": instance_id, "base_url": url, "ttl_s": 30}
    response = httpx.post(f"{url}/instances", json=body, headers=registrar)
    assert response.status_code == 201, response.text
    generation: int = response.json()["generation"]
    return generation


def _instances(url: str, name: str = "snap", **params: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/services/{name}", params=params, auth=READER)
    assert response.status_code == 200, response.text
    instances: list[dict[str, Any]] = response.json()["instances"]
    return instances


def test_a_write_of_this_replica_is_seen_by_the_next_read(
    discovery_server: Callable[..., ThreadedServer],
) -> None:
    url = discovery_server(read_cache_s=KEEP_S).url
    generation = _register(url, "snap-1")
    first = _instances(url)
    assert _instances(url) == first  # kept: the same answer again
    assert [i["instance_id"] for i in first] == ["snap-1"]

    beat = httpx.put(
        f"{url}/instances/snap-1/heartbeat",
        params={"generation": generation},
        headers=bearer("discovery", ("discovery:register:snap",), subject=service_subject("snap")),
    )
    assert beat.status_code == 200
    renewed = _instances(url)
    assert renewed[0]["last_heartbeat"] != first[0]["last_heartbeat"]

    _register(url, "snap-2")
    assert sorted(i["instance_id"] for i in _instances(url)) == ["snap-1", "snap-2"]
    assert len(_instances(url, healthy="true")) == 2


def test_a_registry_event_of_another_replica_drops_the_kept_answer(
    discovery_server: Callable[..., ThreadedServer],
) -> None:
    # two replicas on one registry: A keeps an answer, B takes a registration
    a = discovery_server(read_cache_s=KEEP_S).url
    b = discovery_server(read_cache_s=KEEP_S).url
    _register(b, "snap-1")
    assert [i["instance_id"] for i in _instances(a)] == ["snap-1"]  # now kept by A

    _register(b, "snap-2")  # published as service.registered on eco.events

    def both() -> bool:
        return len(_instances(a)) == 2

    wait_until(both, timeout_s=KEEP_S / 2, interval_s=0.05)

    gone = httpx.delete(
        f"{b}/instances/snap-1",
        headers=bearer("discovery", ("discovery:register:snap",), subject=service_subject("snap")),
    )
    assert gone.status_code == 204
    wait_until(
        lambda: [i["instance_id"] for i in _instances(a)] == ["snap-2"],
        timeout_s=KEEP_S / 2,
        interval_s=0.05,
    )


def test_an_unknown_service_is_404_and_not_kept(
    discovery_server: Callable[..., ThreadedServer],
) -> None:
    url = discovery_server(read_cache_s=KEEP_S).url
    missing = httpx.get(f"{url}/services/snap", auth=READER)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    _register(url, "snap-1")
    assert [i["instance_id"] for i in _instances(url)] == ["snap-1"]

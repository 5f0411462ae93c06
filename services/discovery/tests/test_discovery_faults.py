"""Faults: mass lease lapses (self-preservation) and Redis restarting under discovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis

from eco_discovery.main import build_app
from eco_discovery.settings import DiscoverySettings
from eco_shared.auth import service_subject
from eco_shared.redis_server import RedisServer, free_port
from eco_shared.registration import Registrar
from eco_shared.settings import ServiceSettings
from eco_shared.testing import wait_until
from eco_shared.testing.auth import MintedTokens, TestAuth, bearer
from eco_shared.testing.servers import ThreadedServer

ADMIN = TestAuth("discovery")  # an admin user's tokens, minted per request


def test_self_preservation_stops_evictions_until_heartbeats_return(
    discovery_server: Callable[..., ThreadedServer],
    bus_events: Callable[..., list[dict[str, Any]]],
) -> None:
    # Window 5 s; grace 0.3 s: without self-preservation they would all be gone at once.
    server = discovery_server(
        check_interval_s=5, deregister_critical_after_s=0.3, reap_interval_s=0.5
    )
    url = server.url
    ids = [f"fleet-{i}" for i in range(10)]
    generations: dict[str, int] = {}
    # one token for the batch: the leases must line up within their 2 s
    with httpx.Client(base_url=url, headers=bearer("discovery")) as http:
        for instance_id in ids:
            body = {"name": "fleet", "instance_id": instance_id, "base_url": url, "ttl_s": 2}
            registered = http.post("/instances", json=body)
            assert registered.status_code == 201
            generations[instance_id] = registered.json()["generation"]
        for instance_id in ids:  # line the leases up
            beat = http.put(
                f"/instances/{instance_id}/heartbeat",
                params={"generation": generations[instance_id]},
            )
            assert beat.status_code == 200

    # All ten lapse together (10 of 11 leases > 15 %): a fault, not a mass death.
    wait_until(lambda: bus_events("discovery.self_preservation"), timeout_s=5)
    entered = bus_events("discovery.self_preservation")[0]["data"]
    assert entered["active"] is True
    # Engaged as soon as the lapses in the window passed the share (15 % of 11 leases):
    # on a loaded machine the reaper may run while only some of the ten have lapsed.
    assert entered["total"] == 11
    assert entered["lapsed"] > 0.15 * 11
    ready = httpx.get(f"{url}/health/ready", auth=ADMIN)
    assert ready.status_code == 200  # flagged, but discovery still serves
    assert ready.json()["checks"]["self_preservation"]["status"] == "fail"
    assert "self-preservation" in ready.json()["checks"]["self_preservation"]["error"]
    assert httpx.get(f"{url}/services", auth=ADMIN).json()["self_preservation"] is True

    time.sleep(1.0)  # several grace periods: nothing is evicted, nothing turned critical
    fleet = httpx.get(f"{url}/services/fleet", auth=ADMIN).json()["instances"]
    assert len(fleet) == 10
    # A lapse reaped alone before the others (fewer than min_lapsed) may have turned critical.
    assert sum(i["status"] == "passing" for i in fleet) >= 9
    assert not bus_events("service.deregistered")

    # Heartbeats return for nine of them: below the share again, evictions resume.
    with httpx.Client(base_url=url, headers=bearer("discovery")) as http:
        for instance_id in ids[:9]:
            beat = http.put(
                f"/instances/{instance_id}/heartbeat",
                params={"generation": generations[instance_id]},
            )
            assert beat.status_code == 200
    wait_until(lambda: len(bus_events("discovery.self_preservation")) >= 2, timeout_s=5)
    assert bus_events("discovery.self_preservation")[1]["data"]["active"] is False
    assert httpx.get(f"{url}/health/ready", auth=ADMIN).json()["checks"]["self_preservation"][
        "status"
    ] == ("pass")
    # The one that stayed silent is now handled normally: critical, then removed.
    wait_until(
        lambda: httpx.get(f"{url}/instances/fleet-9", auth=ADMIN).status_code == 404, timeout_s=5
    )
    gone = bus_events("service.deregistered")
    assert [e["data"]["instance_id"] for e in gone] == ["fleet-9"]
    critical = [
        e for e in bus_events("service.health_changed") if e["data"]["status"] == "critical"
    ]
    assert "fleet-9" in [e["data"]["instance_id"] for e in critical]


async def test_redis_restart_gives_503_then_resumes_and_lost_records_reregister(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    settings = DiscoverySettings(
        redis_url=private_redis.url,
        redis_prefix="t:",
        port=port,
        default_ttl_s=1.5,
        reap_interval_s=0.2,
        check_interval_s=0.5,
    )
    server = ThreadedServer(build_app(settings, configure_process=False), port=port).start()
    url = server.url
    worker = ServiceSettings(
        service_name="worker",
        port=free_port(),
        instance_id="worker-1",
        discovery_url=url,
        redis_url=private_redis.url,
    )
    # the worker's own tokens, as the issuer would mint them for it
    tokens = MintedTokens(("discovery:register:worker",), subject=service_subject("worker"))
    registrar = Registrar(worker, retry_initial_s=0.1, retry_max_s=0.5, tokens=tokens)
    registrar.start()
    try:
        await asyncio.wait_for(registrar.registered.wait(), 10)
        async with httpx.AsyncClient(base_url=url, auth=ADMIN) as http:
            assert (await http.get("/instances/worker-1")).status_code == 200

            private_redis.kill()
            down = await http.get("/services")
            assert down.status_code == 503
            assert down.headers["content-type"] == "application/problem+json"
            assert down.headers["retry-after"] == "1"
            assert down.json()["title"] == "Registry unavailable"
            assert down.json()["status"] == 503
            assert (await http.get("/health/ready")).status_code == 503
            beat = await http.put("/instances/worker-1/heartbeat", params={"generation": 1})
            assert beat.status_code == 503

            private_redis.start()
            # The same process answers again once Redis is back; AOF kept the record.
            await _until(lambda: _ok(http, "/instances/worker-1"), 10)

            # Redis comes back empty (the record lost): the next heartbeat gets 404 and
            # the shared registrar registers again.
            before = registrar.registrations
            client = redis.Redis.from_url(private_redis.url)
            client.flushall()
            client.close()
            await _until(lambda: _ok(http, "/instances/worker-1"), 10)
            assert registrar.registrations > before
            assert (await http.get("/health/ready")).status_code == 200
    finally:
        await registrar.stop()
        server.stop()


async def _ok(http: httpx.AsyncClient, path: str) -> bool:
    return (await http.get(path)).status_code == 200


async def _until(predicate: Callable[[], Any], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.1)

"""`ServiceDirectory` against real discovery processes and real instances."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest

from eco_shared.directory import ServiceDirectory, ServiceNotFoundError
from eco_shared.http import ServiceCallError, ServiceClient
from eco_shared.redis_server import free_port
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import MintedTokens, TestAuth
from eco_shared.testing.example_service import ExampleSettings, build_app
from eco_shared.testing.servers import ThreadedServer

FAST = {
    "ECO_DISCOVERY_DEFAULT_TTL_S": "15",
    "ECO_DISCOVERY_CHECK_INTERVAL_S": "0.3",
    "ECO_DISCOVERY_REAP_INTERVAL_S": "0.2",
    "ECO_DISCOVERY_WATCH_PING_S": "0.5",
}


@pytest.fixture
def discovery(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str]
) -> ServiceProcess:
    return start_service(
        "eco_discovery.main:create_app", env={**eco_env, **FAST}, port_env="ECO_DISCOVERY_PORT"
    )


@pytest.fixture
def examples(redis_url: str, redis_prefix: str) -> Iterator[list[ThreadedServer]]:
    """Two live instances of the example service (registered by the tests themselves)."""
    servers = []
    for _ in range(2):
        settings = ExampleSettings(
            redis_url=redis_url, redis_prefix=redis_prefix, register_with_discovery=False
        )
        servers.append(ThreadedServer(build_app(settings, configure_process=False)).start())
    yield servers
    for server in servers:
        server.stop()


async def register(http: httpx.AsyncClient, instance_id: str, base_url: str) -> None:
    body = {"name": "example", "instance_id": instance_id, "base_url": base_url}
    response = await http.post("/instances", json=body)
    assert response.status_code == 201, response.text


async def until(predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (await predicate() if asyncio.iscoroutinefunction(predicate) else predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


async def test_resolve_spreads_over_healthy_instances_and_skips_a_critical_one(
    discovery: ServiceProcess, examples: list[ThreadedServer]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with httpx.AsyncClient(base_url=discovery.url, auth=TestAuth("discovery")) as http:
        await register(http, "ex-1", examples[0].url)
        await register(http, "ex-2", examples[1].url)
        await register(http, "ex-dead", dead)

        async def dead_is_critical() -> bool:
            return (await http.get("/instances/ex-dead")).json()["status"] == "critical"

        await until(dead_is_critical)

    async with ServiceClient(service_name="test", tokens=MintedTokens()) as client:
        directory = ServiceDirectory(discovery.url, client, cache_ttl_s=0.2)
        picks = Counter([await directory.resolve("example") for _ in range(20)])
        assert set(picks) == {examples[0].url, examples[1].url}
        assert picks[examples[0].url] == picks[examples[1].url] == 10
        # Across cache refreshes too.
        await asyncio.sleep(0.3)
        assert dead not in {await directory.resolve("example") for _ in range(10)}

        with pytest.raises(ServiceNotFoundError):
            await directory.resolve("nobody")
        assert await directory.resolve("discovery") == discovery.url


async def test_watch_feed_refreshes_the_cache_and_client_takes_service_names(
    discovery: ServiceProcess, examples: list[ThreadedServer]
) -> None:
    async with (
        httpx.AsyncClient(base_url=discovery.url, auth=TestAuth("discovery")) as http,
        ServiceClient(service_name="test", tokens=MintedTokens()) as client,
    ):
        # A cache that would hold answers for a minute: only the feed can refresh it.
        directory = ServiceDirectory(discovery.url, client, cache_ttl_s=60, watch_cache_ttl_s=60)
        directory.start_watching()
        try:
            await directory.wait_watching()
            await register(http, "ex-1", examples[0].url)
            await until(lambda: directory.watch_events >= 1)
            assert await directory.resolve("example") == examples[0].url

            await register(http, "ex-2", examples[1].url)
            await until(lambda: directory.watch_events >= 2)
            picks = {await directory.resolve("example") for _ in range(4)}
            assert picks == {examples[0].url, examples[1].url}

            assert (await http.delete("/instances/ex-1")).status_code == 204
            await until(
                lambda: (
                    directory.last_event is not None
                    and directory.last_event.type == "service.deregistered"
                )
            )
            assert {await directory.resolve("example") for _ in range(4)} == {examples[1].url}

            # The shared client takes a service name instead of a URL.
            directory.bind()
            response = await client.get("eco://example/items/1")
            assert response.status_code == 200
            assert response.json() == {"name": "one", "quantity": 1}
            assert str(response.request.url) == f"{examples[1].url}/items/1"
            relay = await client.get("eco://example/relay")
            assert relay.json()["hops"] == []
        finally:
            await directory.stop()
        assert not directory.watching


async def test_resolve_keeps_the_last_answer_while_discovery_is_down(
    discovery: ServiceProcess, examples: list[ThreadedServer]
) -> None:
    async with httpx.AsyncClient(base_url=discovery.url, auth=TestAuth("discovery")) as http:
        await register(http, "ex-1", examples[0].url)
    async with ServiceClient(service_name="test", retries=1, tokens=MintedTokens()) as client:
        directory = ServiceDirectory(discovery.url, client, cache_ttl_s=0.1)
        assert await directory.resolve("example") == examples[0].url
        discovery.kill()
        await asyncio.sleep(0.2)
        assert await directory.resolve("example") == examples[0].url
        with pytest.raises(ServiceCallError):  # nothing cached: the outage shows
            await directory.resolve("other")

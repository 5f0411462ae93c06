"""The shared clients of discovery against the real service: the `Registrar` names its
registration's generation (and registers afresh when another holds the id), and the
`ServiceDirectory`'s lookups and watch carry the service's token."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from discovery_helpers import ADMIN, bearer_of

from eco_shared.auth import service_subject
from eco_shared.directory import ServiceDirectory
from eco_shared.http import ServiceClient
from eco_shared.redis_server import free_port
from eco_shared.registration import Registrar
from eco_shared.settings import ServiceSettings
from eco_shared.testing.auth import MintedTokens, token
from eco_shared.testing.servers import ThreadedServer

WORKER = MintedTokens(
    ("discovery:register:worker", "discovery:read"), subject=service_subject("worker")
)


def worker_settings(url: str) -> ServiceSettings:
    return ServiceSettings(
        service_name="worker", port=free_port(), instance_id="worker-1", discovery_url=url
    )


async def test_the_registrar_names_its_generation_and_registers_afresh_when_replaced(
    discovery_server: Callable[..., ThreadedServer],
) -> None:
    url = discovery_server(default_ttl_s=60).url  # beats every 20 s: the test drives them
    registrar = Registrar(worker_settings(url), retry_initial_s=0.1, tokens=WORKER)
    registrar.start()
    try:
        await asyncio.wait_for(registrar.registered.wait(), 10)
        first = registrar.generation
        assert isinstance(first, int)
        assert await registrar.heartbeat() is True
        assert registrar.registrations == 1

        # a second registration of the id (a restarted twin, with the same identity)
        twin_token = bearer_of(
            token("discovery", ["discovery:register:worker"], subject=service_subject("worker"))
        )
        body = registrar.payload()
        async with httpx.AsyncClient(base_url=url) as http:
            twin = await http.post("/instances", json=body, headers=twin_token)
            assert twin.status_code == 200
            replaced = twin.json()["generation"]
            assert replaced > first

            # its next heartbeat is refused (409): it registers afresh, a newer generation
            assert await registrar.heartbeat() is True
            assert registrar.registrations == 2
            mine = registrar.generation
            assert mine is not None
            assert mine > replaced

            # a twin replaces it again: stopping does not remove the twin's registration
            twin = await http.post("/instances", json=body, headers=twin_token)
            await registrar.stop()
            left = (await http.get("/instances/worker-1", auth=ADMIN)).json()
            assert left["generation"] == twin.json()["generation"] != mine
    finally:
        await registrar.stop()


async def test_the_directory_looks_up_and_watches_with_the_services_token(
    discovery_server: Callable[..., ThreadedServer],
) -> None:
    url = discovery_server(default_ttl_s=30).url
    body = {"name": "alpha", "instance_id": "alpha-1", "base_url": url}
    async with ServiceClient(service_name="worker", tokens=WORKER) as http:
        directory = ServiceDirectory(url, http)
        directory.start_watching()
        try:
            await directory.wait_watching(10)
            async with httpx.AsyncClient(base_url=url, auth=ADMIN) as admin:
                assert (await admin.post("/instances", json=body)).status_code == 201
            assert await directory.resolve("alpha") == url
            for _ in range(100):
                if directory.watch_events:
                    break
                await asyncio.sleep(0.05)
            assert directory.last_event is not None
            assert directory.last_event.data["instance_id"] == "alpha-1"
        finally:
            await directory.stop()

    # without a token discovery answers neither
    async with ServiceClient(service_name="anonymous") as http:
        directory = ServiceDirectory(url, http)
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await directory.resolve("alpha")
        assert refused.value.response.status_code == 401
        directory.start_watching()
        try:
            await asyncio.sleep(1.0)
            assert not directory.watching
        finally:
            await directory.stop()

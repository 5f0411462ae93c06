"""`DiscoveryAdapter` held against the running service's OpenAPI, and used against it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from eco_shared.adapters import AdapterError, check_adapter_against_openapi
from eco_shared.adapters.discovery import DiscoveryAdapter, InstanceCreate
from eco_shared.directory import ServiceDirectory
from eco_shared.http import ServiceClient
from eco_shared.testing import ServiceProcess, wait_until


async def test_adapter_matches_the_real_openapi_and_works(
    start_discovery: Callable[..., ServiceProcess],
) -> None:
    discovery = start_discovery(ECO_DISCOVERY_DEFAULT_TTL_S="15")
    spec = httpx.get(f"{discovery.url}/openapi.json").json()
    assert check_adapter_against_openapi(DiscoveryAdapter, spec) == []

    async with ServiceClient(service_name="test") as http:
        # Found through a directory: "discovery" resolves to the configured URL.
        adapter = DiscoveryAdapter(http, ServiceDirectory(discovery.url, http))
        lease = await adapter.register(
            InstanceCreate(
                name="example",
                instance_id="ex-1",
                base_url=discovery.url,  # any live server will do for the probe
                version="1.0",
                tags=["demo"],
            )
        )
        assert lease.created is True
        assert lease.ttl_s == 15.0
        again = await adapter.register(
            InstanceCreate(name="example", instance_id="ex-1", base_url=discovery.url)
        )
        assert again.created is False
        assert (await adapter.heartbeat("ex-1")).instance_id == "ex-1"

        instance = await adapter.get_instance("ex-1")
        assert instance.tags == []  # the second registration replaced them
        assert instance.version == "0.0.0"

        services = await adapter.list_services()
        assert {s.name for s in services.services} == {"discovery", "example"}
        healthy = await adapter.get_service("example", healthy=True)
        assert [i.instance_id for i in healthy.instances] == ["ex-1"]

        async def capabilities_ready() -> bool:
            return (await adapter.get_instance("ex-1")).capabilities_status == "ok"

        for _ in range(100):
            if await capabilities_ready():
                break
            await asyncio.sleep(0.1)
        page = await adapter.search_capabilities("heartbeat", service="example")
        assert [c.path for c in page.items] == ["/instances/{instance_id}/heartbeat"]
        spec_stored = await adapter.service_openapi("example")
        assert spec_stored["paths"].keys() == spec["paths"].keys()
        assert (await adapter.health())["service"] == "discovery"
        assert {c.path for c in await adapter.capabilities()} >= {"/instances", "/services"}

        await adapter.deregister("ex-1")
        with pytest.raises(AdapterError) as info:
            await adapter.heartbeat("ex-1")
        assert info.value.status == 404
        assert "ex-1" in info.value.problem["detail"]
    wait_until(lambda: httpx.get(f"{discovery.url}/services/example").status_code == 404)

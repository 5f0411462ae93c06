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
from eco_shared.models.discovery_auth import KeyCreate
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import MintedTokens, TestAuth

ADMIN = TestAuth("discovery")  # an admin user's tokens, minted per request


async def test_adapter_matches_the_real_openapi_and_works(
    start_discovery: Callable[..., ServiceProcess],
) -> None:
    discovery = start_discovery(ECO_DISCOVERY_DEFAULT_TTL_S="15")
    spec = httpx.get(f"{discovery.url}/openapi.json", auth=ADMIN).json()
    assert check_adapter_against_openapi(DiscoveryAdapter, spec) == []

    async with ServiceClient(service_name="test", tokens=MintedTokens()) as http:
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
        assert (await adapter.heartbeat("ex-1", again.generation)).instance_id == "ex-1"
        with pytest.raises(AdapterError) as stale:
            await adapter.heartbeat("ex-1", lease.generation)
        assert stale.value.status == 409

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

        with pytest.raises(AdapterError) as other:
            await adapter.deregister("ex-1", generation=lease.generation)
        assert other.value.status == 409
        await adapter.deregister("ex-1", generation=again.generation)
        with pytest.raises(AdapterError) as info:
            await adapter.heartbeat("ex-1", again.generation)
        assert info.value.status == 404
        assert "ex-1" in info.value.problem["detail"]
    wait_until(
        lambda: httpx.get(f"{discovery.url}/services/example", auth=ADMIN).status_code == 404
    )


async def test_adapter_manages_api_keys_and_says_who_calls(
    start_discovery: Callable[..., ServiceProcess],
) -> None:
    discovery = start_discovery()
    user = MintedTokens(("auth:keys", "docs:read", "docs:write"), subject="user:ada")
    async with ServiceClient(service_name="test", tokens=user) as http:
        adapter = DiscoveryAdapter(http, base_url=discovery.url)
        me = await adapter.whoami()
        assert (me.subject, me.kind, me.audience) == ("user:ada", "user", "discovery")
        assert me.scopes == ["auth:keys", "docs:read", "docs:write"]

        created = await adapter.create_key(KeyCreate(name="ci", scopes=["docs:read"], rpm=5))
        assert created.key.startswith(f"eco_{created.key_id}_")
        assert (created.owner, created.scopes, created.rpm) == ("user:ada", ["docs:read"], 5)
        listed = await adapter.list_keys()
        assert [k.key_id for k in listed.items] == [created.key_id]
        assert "key" not in listed.items[0].model_dump()
        assert (await adapter.get_key(created.key_id)).status == "active"

        rotated = await adapter.rotate_key(created.key_id, grace_s=30)
        assert rotated.key_id == created.key_id
        assert rotated.key != created.key
        assert rotated.previous_secret_valid_until is not None

        await adapter.revoke_key(created.key_id)
        with pytest.raises(AdapterError) as gone:
            await adapter.get_key(created.key_id)
        assert gone.value.status == 404
        assert gone.value.problem["title"] == "API key revoked"
        revoked = await adapter.list_keys(include_revoked=True)
        assert [k.status for k in revoked.items] == ["revoked"]
        assert (await adapter.list_keys()).items == []

"""Capabilities read from a real FastAPI app's OpenAPI document: listed, searched, served."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from eco_shared.testing import wait_until
from eco_shared.testing.auth import TestAuth
from eco_shared.testing.example_service import ExampleSettings, build_app
from eco_shared.testing.servers import ThreadedServer

ADMIN = TestAuth("discovery")  # an admin user's tokens, minted per request


@pytest.fixture
def example(redis_url: str, redis_prefix: str) -> Iterator[ThreadedServer]:
    settings = ExampleSettings(
        redis_url=redis_url, redis_prefix=redis_prefix, register_with_discovery=False
    )
    with ThreadedServer(build_app(settings, configure_process=False)) as server:
        yield server


@pytest.fixture
def broken() -> Iterator[ThreadedServer]:
    """Answers /health/ready but its /openapi.json is not JSON."""
    app = FastAPI(openapi_url=None)

    @app.get("/health/ready")
    def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/openapi.json", response_class=PlainTextResponse)
    def spec() -> str:
        return "<html>surprise</html>"

    with ThreadedServer(app) as server:
        yield server


def register(discovery: str, name: str, instance_id: str, url: str, **extra: Any) -> None:
    body = {"name": name, "instance_id": instance_id, "base_url": url, "version": "1.0", **extra}
    response = httpx.post(f"{discovery}/instances", json=body, auth=ADMIN)
    assert response.status_code == 201, response.text


def caps_state(discovery: str, instance_id: str) -> str:
    state: str = httpx.get(f"{discovery}/instances/{instance_id}", auth=ADMIN).json()[
        "capabilities_status"
    ]
    return state


def test_capabilities_of_a_real_app_are_listed_and_searchable(
    discovery_server: Callable[..., ThreadedServer],
    example: ThreadedServer,
    broken: ThreadedServer,
) -> None:
    discovery = discovery_server(default_ttl_s=30).url  # no lapse while it probes
    register(discovery, "example", "ex-1", example.url, tags=["demo"])
    register(discovery, "example", "ex-2", example.url)
    register(discovery, "broken", "broken-1", broken.url)
    for instance_id in ("ex-1", "ex-2", "broken-1"):
        wait_until(lambda i=instance_id: caps_state(discovery, i) != "pending", timeout_s=10)

    record = httpx.get(f"{discovery}/instances/ex-1", auth=ADMIN).json()
    assert record["capabilities_status"] == "ok"
    spec = httpx.get(f"{example.url}/openapi.json", auth=ADMIN).json()
    operations = sum(
        1 for item in spec["paths"].values() for m in item if m in ("get", "post", "put", "delete")
    )
    assert record["capabilities_count"] == operations

    # Everything of one service, one hit per operation for both instances of a version.
    page = httpx.get(f"{discovery}/capabilities", params={"service": "example"}, auth=ADMIN).json()
    assert page["total"] == operations
    get_item = next(c for c in page["items"] if c["path"] == "/items/{item_id}")
    assert get_item["method"] == "GET"
    assert get_item["summary"] == "Get an item (only 1 exists)"
    assert get_item["tags"] == ["items"]
    assert get_item["path_params"] == ["item_id"]
    assert get_item["response_schema"]["properties"]["quantity"]["type"] == "integer"
    assert sorted(get_item["instance_ids"]) == ["ex-1", "ex-2"]
    create = next(c for c in page["items"] if c["method"] == "POST" and c["path"] == "/items")
    assert create["request_schema"]["required"] == ["name", "quantity"]

    # Search by text, by operation tag, by instance tag; paging.
    relay = httpx.get(
        f"{discovery}/capabilities", params={"q": "ANOTHER service"}, auth=ADMIN
    ).json()
    assert [(c["service"], c["path"]) for c in relay["items"]] == [("example", "/relay")]
    items = httpx.get(f"{discovery}/capabilities", params={"tag": "items"}, auth=ADMIN).json()
    assert {c["path"] for c in items["items"]} == {"/items", "/items/{item_id}"}
    demo = httpx.get(f"{discovery}/capabilities", params={"tag": "demo"}, auth=ADMIN).json()
    assert demo["total"] == operations
    assert all(c["instance_ids"] == ["ex-1"] for c in demo["items"])
    first = httpx.get(f"{discovery}/capabilities", params={"limit": 2}, auth=ADMIN).json()
    second = httpx.get(
        f"{discovery}/capabilities", params={"limit": 2, "offset": 2}, auth=ADMIN
    ).json()
    assert len(first["items"]) == 2
    assert first["total"] == second["total"]
    assert first["items"] != second["items"]
    none = httpx.get(
        f"{discovery}/capabilities", params={"q": "no-such-operation"}, auth=ADMIN
    ).json()
    assert none == {"items": [], "total": 0, "limit": 50, "offset": 0}

    # The stored spec is served as is.
    assert httpx.get(f"{discovery}/services/example/openapi", auth=ADMIN).json() == spec

    # A spec that is not JSON is an error on the instance, not a crash.
    bad = httpx.get(f"{discovery}/instances/broken-1", auth=ADMIN).json()
    assert bad["capabilities_status"] == "error"
    assert "not JSON" in bad["capabilities_error"]
    assert bad["status"] == "passing"
    assert (
        httpx.get(f"{discovery}/capabilities", params={"service": "broken"}, auth=ADMIN).json()[
            "total"
        ]
        == 0
    )


def test_a_new_version_is_read_again(
    discovery_server: Callable[..., ThreadedServer], example: ThreadedServer
) -> None:
    discovery = discovery_server(default_ttl_s=30).url  # no lapse while it probes
    register(discovery, "example", "ex-1", example.url)
    wait_until(lambda: caps_state(discovery, "ex-1") == "ok", timeout_s=10)
    body = {"name": "example", "instance_id": "ex-1", "base_url": example.url, "version": "2.0"}
    assert httpx.post(f"{discovery}/instances", json=body, auth=ADMIN).status_code == 200
    wait_until(lambda: caps_state(discovery, "ex-1") == "ok", timeout_s=10)
    page = httpx.get(f"{discovery}/capabilities", params={"service": "example"}, auth=ADMIN).json()
    assert {c["version"] for c in page["items"]} == {"2.0"}

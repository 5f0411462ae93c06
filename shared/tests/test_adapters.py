"""The adapter base and its conformance check, against a real service's OpenAPI document."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from eco_shared.adapters import (
    AdapterError,
    BaseServiceAdapter,
    check_adapter_against_openapi,
    operation,
)
from eco_shared.capabilities import openapi_operations
from eco_shared.http import ServiceClient
from eco_shared.testing.auth import MintedTokens
from eco_shared.testing.example_service import ExampleSettings, build_app
from eco_shared.testing.servers import ThreadedServer


class ItemOut(BaseModel):
    name: str
    quantity: int


class ItemRenamed(BaseModel):
    name: str
    qty: int


class Hop(BaseModel):
    service: str
    trace_id: str | None


class ExampleAdapter(BaseServiceAdapter):
    service_name = "example"

    @operation("GET", "/items/{item_id}", response=ItemOut)
    async def get_item(self, item_id: int) -> dict[str, Any]:
        response = await self._request(
            "GET", "/items/{item_id}", operation="get_item", path_params={"item_id": item_id}
        )
        body: dict[str, Any] = response.json()
        return body

    @operation("POST", "/items", body=True)
    async def create_item(self, name: str, quantity: int) -> dict[str, Any]:
        response = await self._request(
            "POST", "/items", operation="create_item", json={"name": name, "quantity": quantity}
        )
        body: dict[str, Any] = response.json()
        return body

    @operation("GET", "/relay", query=("to",))
    async def relay(self) -> dict[str, Any]:
        response = await self._request("GET", "/relay", operation="relay")
        body: dict[str, Any] = response.json()
        return body


class DriftedAdapter(BaseServiceAdapter):
    service_name = "example"

    @operation("GET", "/item/{item_id}")
    async def renamed_path(self) -> None: ...

    @operation("GET", "/relay", query=("target",))
    async def unknown_query(self) -> None: ...

    @operation("POST", "/items")
    async def forgot_body(self) -> None: ...

    @operation("DELETE", "/items/{item_id}")
    async def wrong_method(self) -> None: ...


@pytest.fixture
def service(redis_url: str, redis_prefix: str) -> Iterator[str]:
    settings = ExampleSettings(
        redis_url=redis_url, redis_prefix=redis_prefix, register_with_discovery=False
    )
    with ThreadedServer(build_app(settings, configure_process=False)) as server:
        yield server.url


def test_capabilities_are_read_from_the_real_spec(service: str) -> None:
    spec = httpx.get(f"{service}/openapi.json").json()
    caps = {(c.method, c.path): c for c in openapi_operations(spec)}
    create = caps[("POST", "/items")]
    assert create.summary == "Validate and echo an item"
    assert create.tags == ["items"]
    assert create.request_schema is not None
    assert set(create.request_schema["properties"]) == {"name", "quantity"}
    assert caps[("GET", "/items/{item_id}")].path_params == ["item_id"]
    assert caps[("GET", "/relay")].query_params == ["to"]


def test_conforming_adapter_has_no_drift(service: str) -> None:
    spec = httpx.get(f"{service}/openapi.json").json()
    assert check_adapter_against_openapi(ExampleAdapter, spec) == []


def test_drifted_adapter_is_caught(service: str) -> None:
    spec = httpx.get(f"{service}/openapi.json").json()
    problems = check_adapter_against_openapi(DriftedAdapter, spec)
    assert len(problems) == 4
    joined = "\n".join(problems)
    assert "renamed_path: GET /item/{item_id} is not an operation" in joined
    assert "unknown_query: query parameters ['target']" in joined
    assert "forgot_body: sends no body" in joined
    assert "wrong_method: DELETE /items/{item_id} is not an operation" in joined


async def test_adapter_calls_and_errors(service: str) -> None:
    async with ServiceClient(service_name="test", tokens=MintedTokens()) as http:
        adapter = ExampleAdapter(http, base_url=service)
        assert await adapter.get_item(1) == {"name": "one", "quantity": 1}
        assert await adapter.create_item("x", 2) == {"name": "x", "quantity": 2}
        assert (await adapter.health())["service"] == "example"
        ops = {c.path for c in await adapter.capabilities()}
        assert "/items/{item_id}" in ops
        with pytest.raises(AdapterError) as err:
            await adapter.get_item(9)
        assert err.value.status == 404
        assert err.value.problem["detail"] == "No item with id 9."


def test_adapter_needs_a_way_to_find_its_service() -> None:
    with pytest.raises(ValueError, match="ServiceDirectory or a base_url"):
        ExampleAdapter(ServiceClient())


class ResponseDriftAdapter(BaseServiceAdapter):
    service_name = "example"

    @operation("GET", "/items/{item_id}", response=ItemRenamed)
    async def renamed_field(self) -> None: ...

    @operation("POST", "/items", body=True, response=list[ItemOut])
    async def list_for_object(self) -> None: ...

    @operation("GET", "/relay", query=("to",), response=Hop)
    async def untyped_response(self) -> None: ...

    @operation("GET", "/items/{item_id}", response=dict[str, Any])
    async def free_form_reader(self) -> None: ...


def test_response_drift_is_caught(service: str) -> None:
    spec = httpx.get(f"{service}/openapi.json").json()
    problems = check_adapter_against_openapi(ResponseDriftAdapter, spec)
    joined = "\n".join(problems)
    assert "renamed_field: response: the service does not return ['qty']" in joined
    assert "renamed_field: response: the adapter's model lacks ['quantity']" in joined
    assert "list_for_object: response: the adapter expects an array" in joined
    # /relay declares a free-form object: a model cannot be held against it
    assert (
        "untyped_response: response: the adapter expects an object, "
        "the service returns a free-form object"
    ) in joined
    # an adapter reading any object conforms to a declared one
    assert "free_form_reader" not in joined
    assert len(problems) == 4


def test_adapter_errors_read_as_the_problem_says() -> None:
    invalid = AdapterError(
        "log-collector",
        422,
        {"detail": "The request is invalid.", "errors": [{"field": "since", "msg": "not a time"}]},
    )
    assert str(invalid) == "log-collector answered 422: The request is invalid.; since: not a time"
    said_once = AdapterError(
        "doc-store",
        422,
        {"detail": "since: not a time", "errors": [{"field": "since", "msg": "not a time"}]},
    )
    assert str(said_once) == "doc-store answered 422: since: not a time"
    assert str(AdapterError("discovery", 503, {})) == "discovery answered 503"

"""One way to fail, over real HTTP: the problem factories, their OpenAPI declarations,
typed resources through the shared dependencies, cursors and time parameters."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query

from eco_shared.app import ServiceState, create_service_app
from eco_shared.auth import PUBLIC
from eco_shared.deps import RedisDep, resources_getter, settings_getter
from eco_shared.pagination import Page, cut_page, decode_cursor, encode_cursor
from eco_shared.params import parse_time
from eco_shared.problems import (
    PROBLEM_JSON,
    Conflict,
    NotFound,
    TooLarge,
    Unavailable,
    ValidationProblem,
    problem_responses,
)
from eco_shared.redis_server import free_port
from eco_shared.testing.example_service import ExampleSettings
from eco_shared.testing.servers import ThreadedServer


@dataclass(frozen=True, slots=True)
class Resources:
    numbers: list[int]


ResourcesDep = Annotated[Resources, Depends(resources_getter(Resources))]
SettingsDep = Annotated[ExampleSettings, Depends(settings_getter(ExampleSettings))]

# open to anyone: these tests are about errors, not about who may call
router = APIRouter(dependencies=[PUBLIC])


@router.get("/things/{key}", responses=problem_responses(404, (409, "The thing is locked")))
async def get_thing(key: str) -> dict[str, str]:
    if key == "locked":
        raise Conflict("The thing is locked.", title="Locked")
    raise NotFound("Thing", key)


@router.delete("/things/{key}", status_code=204, responses=problem_responses(404))
async def delete_thing(key: str) -> None:
    raise NotFound("Thing", key)


@router.get("/limits", responses=problem_responses(413, 422, 503))
async def limits(kind: str) -> None:
    if kind == "large":
        raise TooLarge("Too big.", limit_bytes=10)
    if kind == "down":
        raise Unavailable("Redis is down.", retry_after_s=3)
    raise ValidationProblem.field("query", "kind", "unknown kind")


@router.get("/numbers", responses=problem_responses(400, 422))
async def numbers(
    resources: ResourcesDep,
    settings: SettingsDep,
    redis: RedisDep,
    limit: Annotated[int, Query(ge=1)] = 2,
    cursor: str | None = None,
    since: str | None = None,
) -> Page[int]:
    assert settings.service_name == "example"
    assert await redis.ping()
    parse_time(since, "since")
    after = decode_cursor(cursor, int)[0] if cursor else -1
    rows = [n for n in resources.numbers if n > after][: limit + 1]
    items, next_cursor = cut_page(rows, limit, lambda n: (n,))
    return Page[int](items=items, next_cursor=next_cursor)


@router.get("/cached", responses=problem_responses(503))
async def cached(redis: RedisDep) -> dict[str, str | None]:
    value = await redis.get("k")
    return {"value": value.decode() if value else None}


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI, state: ServiceState) -> AsyncIterator[Resources]:
    yield Resources(numbers=[1, 2, 3, 4, 5])


@pytest.fixture
def service(redis_url: str, redis_prefix: str) -> Iterator[str]:
    settings = ExampleSettings(
        redis_url=redis_url, redis_prefix=redis_prefix, register_with_discovery=False
    )
    app = create_service_app(settings, routers=[router], lifespan=lifespan, configure_process=False)
    with ThreadedServer(app) as server:
        yield server.url


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert body["status"] == status
    return body


def test_factories_answer_problem_json(service: str) -> None:
    missing = _problem(httpx.get(f"{service}/things/x1"), 404)
    assert missing["title"] == "Thing not found"
    assert missing["detail"] == "No thing x1."
    assert missing["instance"] == "/things/x1"
    assert _problem(httpx.get(f"{service}/things/locked"), 409)["title"] == "Locked"
    assert _problem(httpx.get(f"{service}/limits?kind=large"), 413)["limit_bytes"] == 10
    down = httpx.get(f"{service}/limits?kind=down")
    _problem(down, 503)
    assert down.headers["retry-after"] == "3"


def test_field_errors_have_the_shape_request_validation_has(service: str) -> None:
    ours = _problem(httpx.get(f"{service}/limits?kind=odd"), 422)
    theirs = _problem(httpx.get(f"{service}/numbers?limit=0"), 422)
    assert ours["errors"] == [
        {"loc": ["query", "kind"], "field": "kind", "msg": "unknown kind", "type": "value_error"}
    ]
    assert isinstance(theirs["errors"], list)
    assert set(theirs["errors"][0]) == set(ours["errors"][0])  # type: ignore[index]
    assert ours["type"] == theirs["type"] == "urn:eco:problem:validation"


def test_declared_problems_are_in_openapi_as_problem_json(service: str) -> None:
    spec = httpx.get(f"{service}/openapi.json").json()
    responses = spec["paths"]["/things/{key}"]["get"]["responses"]
    assert responses["409"]["description"] == "The thing is locked"
    for status in ("404", "409", "422"):
        schema = responses[status]["content"][PROBLEM_JSON]["schema"]
        assert schema == {"$ref": "#/components/schemas/ProblemDetails"}
    # FastAPI's own validation error model is replaced, not listed beside ours
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(
        spec["components"]["schemas"]["ProblemDetails"]["properties"]
    )


def test_typed_resources_and_cursor_pages(service: str) -> None:
    first = httpx.get(f"{service}/numbers").json()
    assert first["items"] == [1, 2]
    second = httpx.get(f"{service}/numbers", params={"cursor": first["next_cursor"]}).json()
    assert second["items"] == [3, 4]
    last = httpx.get(
        f"{service}/numbers", params={"cursor": second["next_cursor"], "limit": 5}
    ).json()
    assert last == {"items": [5], "next_cursor": None}


def test_a_cursor_not_handed_out_is_400_naming_the_field(service: str) -> None:
    for bad in ("nonsense", encode_cursor("a"), encode_cursor(1, 2)):
        body = _problem(httpx.get(f"{service}/numbers", params={"cursor": bad}), 400)
        assert body["errors"][0]["field"] == "cursor"  # type: ignore[index]


def test_a_bad_time_is_422_naming_the_field(service: str) -> None:
    body = _problem(httpx.get(f"{service}/numbers", params={"since": "last tuesday"}), 422)
    assert body["errors"][0]["field"] == "since"  # type: ignore[index]
    assert httpx.get(f"{service}/numbers", params={"since": "15m"}).status_code == 200


def test_time_forms() -> None:
    now = 1_700_000_000.0
    assert parse_time("90s", "t", now=now) == now - 90
    assert parse_time("2h", "t", now=now) == now - 7200
    assert parse_time("500ms", "t", now=now) == pytest.approx(now - 0.5)
    assert parse_time("1700000000", "t") == 1_700_000_000.0
    assert parse_time("2023-11-14T22:13:20Z", "t") == 1_700_000_000.0
    # a "+" the client did not encode arrives as a space
    assert parse_time("2023-11-15T00:13:20 02:00", "t") == 1_700_000_000.0
    assert parse_time("", "t") is None
    with pytest.raises(ValidationProblem):
        parse_time("99999-01-01", "t")


def test_a_redis_outage_is_503_with_retry_after(redis_prefix: str) -> None:
    settings = ExampleSettings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        redis_prefix=redis_prefix,
        register_with_discovery=False,
    )
    app = create_service_app(settings, routers=[router], lifespan=lifespan, configure_process=False)
    with ThreadedServer(app) as server:
        response = httpx.get(f"{server.url}/cached", timeout=30)
    _problem(response, 503)
    assert response.headers["retry-after"] == "1"


def test_405_allow_names_every_method_of_the_path(service: str) -> None:
    # GET and DELETE are two routes: Starlette alone would name only the first one's methods
    response = httpx.request("PUT", f"{service}/things/x1")
    _problem(response, 405)
    assert response.headers["allow"] == "DELETE, GET"

"""The app factory over real HTTP: errors, limits, request ids, metrics and health."""

from collections.abc import Iterator

import httpx
import pytest

from eco_shared.redis_server import RedisServer
from eco_shared.testing.auth import TestAuth
from eco_shared.testing.example_service import ExampleSettings, build_app
from eco_shared.testing.servers import ThreadedServer

AUTH = TestAuth("example")


def _settings(redis_url: str, redis_prefix: str, **overrides: object) -> ExampleSettings:
    values: dict[str, object] = {
        "redis_url": redis_url,
        "redis_prefix": redis_prefix,
        "register_with_discovery": False,
        "max_body_bytes": 2048,
    }
    values.update(overrides)
    return ExampleSettings(**values)


@pytest.fixture
def service(redis_url: str, redis_prefix: str) -> Iterator[str]:
    app = build_app(_settings(redis_url, redis_prefix), configure_process=False)
    with ThreadedServer(app) as server:
        yield server.url


def test_liveness_reports_service_version_and_uptime(service: str) -> None:
    body = httpx.get(f"{service}/health").json()
    assert body["status"] == "ok"
    assert body["service"] == "example"
    assert body["version"] == "0.1.0"
    assert body["uptime_s"] >= 0


def test_readiness_checks_redis(service: str) -> None:
    response = httpx.get(f"{service}/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["redis"]["status"] == "pass"


def test_validation_errors_are_problem_json_listing_fields(service: str) -> None:
    response = httpx.post(f"{service}/items", auth=AUTH, json={"name": "", "quantity": -1})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert body["instance"] == "/items"
    assert {e["field"] for e in body["errors"]} == {"name", "quantity"}


def test_malformed_json_is_400(service: str) -> None:
    response = httpx.post(
        f"{service}/items",
        auth=AUTH,
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Malformed request"


def test_not_found_route_and_resource(service: str) -> None:
    missing_route = httpx.get(f"{service}/nowhere")
    assert missing_route.status_code == 404
    assert missing_route.headers["content-type"] == "application/problem+json"
    assert missing_route.json()["title"] == "Not Found"
    missing_item = httpx.get(f"{service}/items/7", auth=AUTH)
    assert missing_item.status_code == 404
    assert missing_item.json()["detail"] == "No item with id 7."
    assert missing_item.json()["title"] == "Item not found"


def test_crash_is_500_without_internals(service: str) -> None:
    response = httpx.get(f"{service}/crash", headers={"X-Request-ID": "a" * 32})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    text = response.text
    assert "secret internal detail" not in text
    assert "Traceback" not in text
    assert response.json()["request_id"] == "a" * 32


def test_announced_oversized_body_is_413(service: str) -> None:
    response = httpx.post(f"{service}/items", auth=AUTH, content=b"x" * 5000)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["limit_bytes"] == 2048


def test_streamed_oversized_body_is_413(service: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000

    response = httpx.post(
        f"{service}/items",
        auth=AUTH,
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_request_id_is_echoed_or_generated(service: str) -> None:
    given = httpx.get(f"{service}/health", headers={"X-Request-ID": "b" * 32})
    assert given.headers["x-request-id"] == "b" * 32
    generated = httpx.get(f"{service}/health").headers["x-request-id"]
    assert len(generated) >= 16
    assert generated != "b" * 32


def test_metrics_count_requests_by_route_template(service: str) -> None:
    httpx.get(f"{service}/items/1", auth=AUTH)
    httpx.get(f"{service}/items/2", auth=AUTH)
    httpx.get(f"{service}/items/3", auth=AUTH)
    text = httpx.get(f"{service}/metrics").text
    assert 'http_requests_total{method="GET",route="/items/{item_id}",status="200"} 1.0' in text
    assert 'http_requests_total{method="GET",route="/items/{item_id}",status="404"} 2.0' in text
    assert "http_request_duration_seconds_bucket" in text


def test_openapi_lists_the_service_routes(service: str) -> None:
    spec = httpx.get(f"{service}/openapi.json").json()
    assert "/items" in spec["paths"]
    assert "/health/ready" in spec["paths"]


def test_readiness_follows_redis_down_and_back(private_redis: RedisServer) -> None:
    settings = _settings(private_redis.url, "", readiness_timeout_s=1.0)
    app = build_app(settings, configure_process=False)
    with ThreadedServer(app) as server:
        assert httpx.get(f"{server.url}/health/ready").status_code == 200
        private_redis.stop()
        down = httpx.get(f"{server.url}/health/ready", timeout=10)
        assert down.status_code == 503
        assert down.json()["checks"]["redis"]["status"] == "fail"
        assert httpx.get(f"{server.url}/health").status_code == 200  # still alive
        private_redis.start()
        back = httpx.get(f"{server.url}/health/ready", timeout=10)
        assert back.status_code == 200
        assert back.json()["status"] == "ready"

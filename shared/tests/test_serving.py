"""The serving layer and the server spans, over real HTTP: one span per request (FastAPI's
own), probes untraced by exact path only, and request ids kept only when they are sane."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from eco_shared.app import create_service_app
from eco_shared.auth import PUBLIC
from eco_shared.settings import ServiceSettings
from eco_shared.testing import wait_until
from eco_shared.testing.servers import ThreadedServer


@pytest.fixture
def service(redis_url: str, redis_prefix: str) -> Iterator[str]:
    router = APIRouter(dependencies=[PUBLIC])

    @router.get("/reports/{name}/health-summary")
    async def report(name: str) -> dict[str, str]:
        return {"name": name}

    settings = ServiceSettings(
        service_name="serving-test",
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        register_with_discovery=False,
    )
    app = create_service_app(settings, routers=[router], configure_process=False)
    server = ThreadedServer(app).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_one_server_span_per_request_and_probes_untraced_by_exact_path(
    service: str, span_exporter: InMemorySpanExporter
) -> None:
    span_exporter.clear()
    assert httpx.get(f"{service}/health").status_code == 200
    assert httpx.get(f"{service}/metrics").status_code == 200
    # "health" in a route's path is no reason to leave it untraced
    assert httpx.get(f"{service}/reports/daily/health-summary").status_code == 200

    def servers() -> list[str]:
        return [s.name for s in span_exporter.get_finished_spans() if s.kind is SpanKind.SERVER]

    wait_until(lambda: servers(), timeout_s=10)
    assert servers() == ["GET /reports/{name}/health-summary"]
    (span,) = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert (span.attributes or {})["http.response.status_code"] == 200
    assert (span.attributes or {})["http.route"] == "/reports/{name}/health-summary"


@pytest.mark.parametrize(
    "given",
    ["x" * 129, "spaces are not ids", 'a"quote', "semi;colon", ""],
)
def test_an_unsafe_request_id_is_replaced(service: str, given: str) -> None:
    response = httpx.get(f"{service}/health", headers={"X-Request-ID": given})
    echoed = response.headers["x-request-id"]
    assert echoed != given
    assert len(echoed) == 32
    assert set(echoed) <= set("0123456789abcdef")


def test_a_sane_request_id_is_kept(service: str) -> None:
    given = "req-2026.12.02:abc_DEF"
    response = httpx.get(f"{service}/reports/x/health-summary", headers={"X-Request-ID": given})
    assert response.headers["x-request-id"] == given

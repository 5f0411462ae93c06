"""The serving layer and its server spans, over real HTTP: one span per request, probes
untraced by exact path only, a crash an error span, request ids kept only when sane."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

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

    @router.get("/broken")
    async def broken() -> dict[str, str]:
        raise RuntimeError("broken on purpose")

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


def test_a_crash_is_an_error_span_under_the_callers_trace(
    service: str, span_exporter: InMemorySpanExporter
) -> None:
    span_exporter.clear()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    caller = f"00-{trace_id}-00f067aa0ba902b7-01"
    response = httpx.get(f"{service}/broken", headers={"traceparent": caller})
    assert response.status_code == 500

    def server() -> list[Any]:
        return [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.SERVER]

    wait_until(server, timeout_s=10)
    (span,) = server()
    assert span.name == "GET /broken"
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "RuntimeError"

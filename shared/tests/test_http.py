"""The shared service client against a real HTTP server: breaker, retries, traces, records."""

import asyncio
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from eco_shared.http import (
    BreakerState,
    CallRecord,
    CircuitBreaker,
    CircuitOpenError,
    LazyTLSTransport,
    ServiceClient,
    ServiceUnavailableError,
    record_calls,
    verifying_tls_context,
)
from eco_shared.redis_server import free_port
from eco_shared.testing.servers import ThreadedServer

ALL_METHODS = ["GET", "POST", "PUT", "DELETE"]
hits: Counter[str] = Counter()


def _count(request: Request) -> str:
    key = f"{request.url.path.split('/')[1]}:{request.path_params['key']}"
    hits[key] += 1
    return key


async def ok(request: Request) -> Response:
    _count(request)
    return PlainTextResponse("ok")


async def flaky(request: Request) -> Response:
    key = _count(request)
    if hits[key] <= int(request.query_params.get("fails", "2")):
        retry_after = request.query_params.get("retry_after")
        headers = {"Retry-After": retry_after} if retry_after else None
        return PlainTextResponse("busy", status_code=503, headers=headers)
    return PlainTextResponse("ok")


async def boom(request: Request) -> Response:
    _count(request)
    return PlainTextResponse("boom", status_code=500)


async def missing(request: Request) -> Response:
    _count(request)
    return PlainTextResponse("no such thing", status_code=404)


async def slow(request: Request) -> Response:
    _count(request)
    await asyncio.sleep(float(request.query_params.get("s", "0.3")))
    return PlainTextResponse("late")


async def echo_headers(request: Request) -> Response:
    return JSONResponse([[k.decode(), v.decode()] for k, v in request.headers.raw])


app = Starlette(
    routes=[
        Route("/ok/{key}", ok, methods=ALL_METHODS),
        Route("/flaky/{key}", flaky, methods=ALL_METHODS),
        Route("/boom/{key}", boom, methods=ALL_METHODS),
        Route("/missing/{key}", missing, methods=ALL_METHODS),
        Route("/slow/{key}", slow, methods=ALL_METHODS),
        Route("/echo-headers", echo_headers),
    ]
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with ThreadedServer(app, lifespan="off") as running:
        yield running.url


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    return request.node.name.replace("[", "-").replace("]", "")


@pytest.fixture
def dead() -> str:
    """Base URL of a port where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., ServiceClient]]:
    made: list[ServiceClient] = []

    def make(**options: Any) -> ServiceClient:
        options.setdefault("backoff_initial_s", 0.01)
        options.setdefault("backoff_max_s", 0.05)
        client = ServiceClient(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def test_breaker_state_machine_without_network() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("http://x:80", failure_threshold=2, reset_timeout_s=30, clock=clock)
    assert breaker.acquire() is False
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as refused:
        breaker.acquire()
    assert refused.value.retry_after_s == 30
    clock.advance(30)
    assert breaker.acquire() is True  # the one probe
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError):
        breaker.acquire()
    breaker.release_probe()  # a cancelled probe gives its slot back
    assert breaker.acquire() is True
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after_s() == 30  # a fresh timeout
    clock.advance(30)
    assert breaker.acquire() is True
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


async def test_breaker_opens_after_threshold_and_then_fails_fast(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(failure_threshold=3, retries=1)
    for _ in range(3):
        assert (await client.get(f"{server}/boom/{key}")).status_code == 500
    breaker = client.breaker_for(server)
    assert breaker.state is BreakerState.OPEN
    assert hits[f"boom:{key}"] == 3

    with record_calls() as calls:
        started = time.perf_counter()
        with pytest.raises(CircuitOpenError) as refused:
            await client.get(f"{server}/ok/{key}")
        assert time.perf_counter() - started < 0.05
    assert refused.value.target == breaker.target
    assert hits[f"ok:{key}"] == 0
    assert calls[0].outcome == "circuit_open"
    assert calls[0].attempts == 0
    assert calls[0].status_code is None


async def test_successful_probe_after_reset_timeout_closes_breaker(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    clock = FakeClock()
    client = make_client(failure_threshold=2, reset_timeout_s=30, retries=1, clock=clock)
    for _ in range(2):
        await client.get(f"{server}/boom/{key}")
    clock.advance(29.9)
    with pytest.raises(CircuitOpenError):
        await client.get(f"{server}/ok/{key}")
    clock.advance(0.1)
    assert (await client.get(f"{server}/ok/{key}")).status_code == 200
    assert client.breaker_for(server).state is BreakerState.CLOSED
    assert (await client.get(f"{server}/ok/{key}")).status_code == 200
    assert hits[f"ok:{key}"] == 2


async def test_failed_probe_reopens_breaker_with_a_fresh_timeout(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    clock = FakeClock()
    client = make_client(failure_threshold=2, reset_timeout_s=30, retries=1, clock=clock)
    for _ in range(2):
        await client.get(f"{server}/boom/{key}")
    clock.advance(30)
    assert (await client.get(f"{server}/boom/{key}")).status_code == 500  # the probe
    breaker = client.breaker_for(server)
    assert breaker.state is BreakerState.OPEN
    assert hits[f"boom:{key}"] == 3
    clock.advance(29)
    with pytest.raises(CircuitOpenError):
        await client.get(f"{server}/ok/{key}")
    assert hits[f"ok:{key}"] == 0
    clock.advance(1)
    assert (await client.get(f"{server}/ok/{key}")).status_code == 200
    assert breaker.state is BreakerState.CLOSED


async def test_half_open_lets_one_probe_through_and_others_fail_fast(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    clock = FakeClock()
    client = make_client(failure_threshold=1, reset_timeout_s=30, retries=1, clock=clock)
    await client.get(f"{server}/boom/{key}")
    clock.advance(30)
    probe = asyncio.create_task(client.get(f"{server}/slow/{key}?s=0.3"))
    await asyncio.sleep(0.05)
    assert client.breaker_for(server).state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError):
        await client.get(f"{server}/ok/{key}")
    assert hits[f"ok:{key}"] == 0
    assert (await probe).status_code == 200
    assert client.breaker_for(server).state is BreakerState.CLOSED


async def test_breaker_half_opens_on_the_real_clock(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(failure_threshold=1, reset_timeout_s=0.2, retries=1)
    await client.get(f"{server}/boom/{key}")
    with pytest.raises(CircuitOpenError):
        await client.get(f"{server}/ok/{key}")
    await asyncio.sleep(0.25)
    assert (await client.get(f"{server}/ok/{key}")).status_code == 200
    assert hits[f"ok:{key}"] == 1


async def test_4xx_is_not_a_failure_and_breaks_the_streak(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(failure_threshold=2, retries=1)
    for _ in range(5):
        assert (await client.get(f"{server}/missing/{key}")).status_code == 404
    assert hits[f"missing:{key}"] == 5
    await client.get(f"{server}/boom/{key}")
    await client.get(f"{server}/missing/{key}")
    await client.get(f"{server}/boom/{key}")
    assert client.breaker_for(server).state is BreakerState.CLOSED
    await client.get(f"{server}/boom/{key}")
    assert client.breaker_for(server).state is BreakerState.OPEN


async def test_each_attempt_counts_for_the_breaker(
    dead: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(failure_threshold=3, retries=3)
    with pytest.raises(ServiceUnavailableError):
        await client.get(f"{dead}/x")
    assert client.breaker_for(dead).state is BreakerState.OPEN


async def test_breaker_opening_between_attempts_ends_the_retries(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(failure_threshold=2, retries=5)
    with record_calls() as calls:
        response = await client.get(f"{server}/flaky/{key}?fails=10")
    assert response.status_code == 503
    assert hits[f"flaky:{key}"] == 2
    assert calls[0].attempts == 2


async def test_get_on_connection_error_is_retried_then_unavailable(
    dead: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=3)
    with record_calls() as calls, pytest.raises(ServiceUnavailableError) as failed:
        await client.get(f"{dead}/things")
    assert isinstance(failed.value.__cause__, httpx.ConnectError)
    assert failed.value.target == dead
    assert failed.value.attempts == 3
    (record,) = calls
    assert record.attempts == 3
    assert record.outcome == "error"
    assert record.status_code is None
    assert record.error is not None
    assert record.error.startswith("ConnectError")


async def test_get_on_flaky_503_succeeds_on_third_attempt(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=3)
    with record_calls() as calls:
        response = await client.get(f"{server}/flaky/{key}?fails=2")
    assert response.status_code == 200
    assert hits[f"flaky:{key}"] == 3
    assert calls[0].attempts == 3
    assert calls[0].outcome == "ok"


async def test_post_is_not_retried(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=3)
    with record_calls() as calls:
        response = await client.post(f"{server}/flaky/{key}?fails=2", json={"a": 1})
    assert response.status_code == 503
    assert hits[f"flaky:{key}"] == 1
    assert calls[0].attempts == 1
    assert calls[0].outcome == "error"


async def test_post_with_idempotency_key_is_retried(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=3)
    response = await client.post(
        f"{server}/flaky/{key}?fails=2", json={"a": 1}, headers={"Idempotency-Key": key}
    )
    assert response.status_code == 200
    assert hits[f"flaky:{key}"] == 3


async def test_post_to_a_dead_port_is_not_retried(
    dead: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=3)
    with record_calls() as calls, pytest.raises(ServiceUnavailableError):
        await client.post(f"{dead}/documents", json={})
    assert calls[0].attempts == 1


async def test_explicit_idempotent_flag_wins(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=3)
    response = await client.post(f"{server}/flaky/{key}?fails=2", idempotent=True)
    assert response.status_code == 200
    assert hits[f"flaky:{key}"] == 3
    response = await client.get(f"{server}/flaky/{key}-get?fails=2", idempotent=False)
    assert response.status_code == 503
    assert hits[f"flaky:{key}-get"] == 1


async def test_exhausted_retries_return_the_last_5xx(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=3)
    response = await client.get(f"{server}/flaky/{key}?fails=10")
    assert response.status_code == 503
    assert response.text == "busy"
    assert hits[f"flaky:{key}"] == 3


async def test_500_is_not_retried(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=3)
    assert (await client.get(f"{server}/boom/{key}")).status_code == 500
    assert hits[f"boom:{key}"] == 1


async def test_read_timeout_is_retried_for_get(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=3, timeout=httpx.Timeout(0.1, connect=1.0))
    with record_calls() as calls, pytest.raises(ServiceUnavailableError) as failed:
        await client.get(f"{server}/slow/{key}?s=0.5")
    assert isinstance(failed.value.__cause__, httpx.ReadTimeout)
    assert calls[0].attempts == 3
    assert hits[f"slow:{key}"] == 3


async def test_retry_after_is_honoured_up_to_the_backoff_cap(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=2, backoff_initial_s=0.001, backoff_max_s=0.3)
    started = time.perf_counter()
    response = await client.get(f"{server}/flaky/{key}?fails=1&retry_after=5")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert 0.3 <= elapsed < 2.0


@pytest.fixture
def tracer() -> trace.Tracer:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    return provider.get_tracer(__name__)


def _header_values(response: httpx.Response, name: str) -> list[str]:
    return [v for k, v in response.json() if k.lower() == name]


async def test_requests_carry_the_current_trace(
    server: str, tracer: trace.Tracer, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(service_name="orchestrator")
    with tracer.start_as_current_span("caller") as span:
        response = await client.get(f"{server}/echo-headers")
    (traceparent,) = _header_values(response, "traceparent")
    assert traceparent.split("-")[1] == format(span.get_span_context().trace_id, "032x")
    # no caller header any more: who calls is the bearer token's subject
    assert _header_values(response, "x-eco-caller") == []


async def test_a_callers_traceparent_is_not_duplicated(
    server: str, tracer: trace.Tracer, make_client: Callable[..., ServiceClient]
) -> None:
    given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    client = make_client()
    with tracer.start_as_current_span("caller"):
        response = await client.get(f"{server}/echo-headers", headers={"traceparent": given})
    values = _header_values(response, "traceparent")
    assert len(values) == 1
    if not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        assert values == [given]  # with instrumentation on, its client span replaces it


async def test_record_calls_collects_concurrent_and_nested_task_calls(
    server: str, dead: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=2)
    await client.get(f"{server}/ok/{key}", operation="before")

    async def spawns_a_task() -> httpx.Response:
        return await asyncio.create_task(client.delete(f"{server}/ok/{key}", operation="nested"))

    before = datetime.now(UTC)
    with record_calls() as calls:
        await client.get(f"{server}/ok/{key}", service="doc-store", operation="get_document")
        await asyncio.gather(
            client.get(f"{server}/missing/{key}"),
            client.post(f"{server}/ok/{key}", json={}, operation="create"),
            client.get(f"{dead}/gone", operation="dead"),
            spawns_a_task(),
            return_exceptions=True,
        )
    after = datetime.now(UTC)
    await client.get(f"{server}/ok/{key}", operation="after")

    by_operation = {record.operation: record for record in calls}
    assert set(by_operation) == {
        "get_document",
        f"GET /missing/{key}",
        "create",
        "dead",
        "nested",
    }
    labelled = by_operation["get_document"]
    assert labelled.service == "doc-store"
    assert labelled.method == "GET"
    assert labelled.url == f"{server}/ok/{key}"
    assert labelled.target == server
    assert (labelled.status_code, labelled.outcome, labelled.attempts) == (200, "ok", 1)
    assert labelled.error is None
    defaulted = by_operation[f"GET /missing/{key}"]
    assert defaulted.service == "127.0.0.1"
    assert (defaulted.status_code, defaulted.outcome) == (404, "error")
    assert (by_operation["create"].method, by_operation["create"].status_code) == ("POST", 200)
    assert by_operation["nested"].method == "DELETE"
    failed = by_operation["dead"]
    assert (failed.status_code, failed.outcome, failed.attempts) == (None, "error", 2)
    for record in calls:
        assert record.duration_ms > 0
        assert before <= record.started_at <= after
        assert record.started_at.tzinfo is UTC


async def test_record_calls_keeps_concurrent_contexts_apart_and_nests(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client()

    async def run(name: str, count: int) -> list[CallRecord]:
        with record_calls() as calls:
            for _ in range(count):
                await client.get(f"{server}/ok/{key}", operation=name)
        return calls

    first, second = await asyncio.gather(run("first", 1), run("second", 3))
    assert [r.operation for r in first] == ["first"]
    assert [r.operation for r in second] == ["second"] * 3

    with record_calls() as outer:
        await client.get(f"{server}/ok/{key}", operation="outer")
        with record_calls() as inner:
            await client.get(f"{server}/ok/{key}", operation="inner")
    assert [r.operation for r in outer] == ["outer", "inner"]
    assert [r.operation for r in inner] == ["inner"]


async def test_on_call_hook_sees_every_call(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    seen: list[CallRecord] = []
    client = make_client(on_call=seen.append, failure_threshold=1, retries=1)
    await client.get(f"{server}/boom/{key}")
    with pytest.raises(CircuitOpenError):
        await client.get(f"{server}/ok/{key}")
    assert [(r.status_code, r.outcome) for r in seen] == [(500, "error"), (None, "circuit_open")]


async def test_calls_are_logged(
    server: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(retries=1)
    with structlog.testing.capture_logs() as logs:
        await client.get(f"{server}/ok/{key}", service="svc", operation="fine")
        await client.get(f"{server}/boom/{key}", service="svc", operation="broken")
    calls = [entry for entry in logs if entry["event"] == "service_call"]
    assert [(c["log_level"], c["operation"], c["status"]) for c in calls] == [
        ("debug", "fine", 200),
        ("warning", "broken", 500),
    ]
    assert all(c["service"] == "svc" and c["attempts"] == 1 for c in calls)
    assert all(c["duration_ms"] >= 0 for c in calls)


async def test_breakers_are_per_target(
    server: str, dead: str, key: str, make_client: Callable[..., ServiceClient]
) -> None:
    client = make_client(failure_threshold=2, retries=1)
    for _ in range(2):
        with pytest.raises(ServiceUnavailableError):
            await client.get(f"{dead}/x")
    with pytest.raises(CircuitOpenError):
        await client.get(f"{dead}/x")
    assert (await client.get(f"{server}/ok/{key}")).status_code == 200
    assert hits[f"ok:{key}"] == 1
    assert {t: b.state for t, b in client.breakers.items()} == {
        dead: BreakerState.OPEN,
        server: BreakerState.CLOSED,
    }


async def test_relative_url_without_base_url_is_refused(
    make_client: Callable[..., ServiceClient],
) -> None:
    with pytest.raises(ValueError, match="absolute"):
        await make_client().get("/documents")


async def test_a_given_httpx_client_is_used_and_left_open(server: str, key: str) -> None:
    async with httpx.AsyncClient(base_url=server) as http:
        async with ServiceClient(client=http) as client:
            assert (await client.get(f"/ok/{key}")).status_code == 200
        assert not http.is_closed
    assert hits[f"ok:{key}"] == 1


async def test_the_ca_bundle_waits_for_the_first_https_call(server: str) -> None:
    transport = LazyTLSTransport(retries=1)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get(f"{server}/echo-headers")).status_code == 200
        assert not transport.tls_loaded
        with pytest.raises(httpx.ConnectError):  # nothing speaks TLS there
            await client.get(f"https://127.0.0.1:{free_port()}/")
        assert transport.tls_loaded
    context = verifying_tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.get_ca_certs()  # the bundle itself
    with pytest.raises(TypeError):
        LazyTLSTransport(verify=False)


NO_SPAN_PROBE = """
import asyncio, sys
import httpx
from eco_shared.http import ServiceClient

async def main() -> None:
    echo = httpx.MockTransport(lambda request: httpx.Response(200, json=dict(request.headers)))
    async with ServiceClient(transport=echo) as client:
        headers = (await client.get("http://peer.test/")).json()
    assert "traceparent" not in headers, headers

asyncio.run(main())
print(",".join(sorted(m for m in sys.modules if m.startswith("opentelemetry"))), file=sys.stderr)
"""


def test_a_process_without_opentelemetry_does_not_load_it_to_propagate() -> None:
    """Nothing can be in a context that was never imported; with a span, the trace is
    propagated (`test_requests_carry_the_current_trace`)."""
    done = subprocess.run(
        [sys.executable, "-c", NO_SPAN_PROBE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "\n"

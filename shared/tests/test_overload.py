"""Back-pressure over real HTTP: past its in-flight limit a service answers 503 with
Retry-After at once, probes still answer, and every operation declares the 503."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from eco_shared.app import create_service_app
from eco_shared.auth import PUBLIC
from eco_shared.settings import ServiceSettings
from eco_shared.testing import wait_until
from eco_shared.testing.servers import ThreadedServer

LIMIT = 2


class Gate:
    """Holds `/held` requests until opened (set from the test thread)."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.entered = 0

    async def wait(self) -> None:
        self.entered += 1
        while not self.opened.is_set():
            await asyncio.sleep(0.01)


@pytest.fixture
def gated(redis_url: str, redis_prefix: str) -> Iterator[tuple[str, Gate]]:
    gate = Gate()
    router = APIRouter(dependencies=[PUBLIC])  # about overload, not about callers

    @router.get("/held")
    async def held() -> dict[str, bool]:
        await gate.wait()
        return {"ok": True}

    @router.get("/feed")
    async def feed() -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            yield b"data: hello\n\n"
            while not gate.opened.is_set():
                await asyncio.sleep(0.01)

        return StreamingResponse(events(), media_type="text/event-stream")

    settings = ServiceSettings(
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        register_with_discovery=False,
        max_inflight_requests=LIMIT,
    )
    app = create_service_app(settings, routers=[router], configure_process=False)
    with ThreadedServer(app) as server:
        yield server.url, gate
        gate.opened.set()


def _in_thread(url: str, out: list[int]) -> threading.Thread:
    thread = threading.Thread(target=lambda: out.append(httpx.get(url, timeout=30).status_code))
    thread.start()
    return thread


def test_over_the_limit_is_503_with_retry_after_and_probes_still_answer(
    gated: tuple[str, Gate],
) -> None:
    url, gate = gated
    statuses: list[int] = []
    threads = [_in_thread(f"{url}/held", statuses) for _ in range(LIMIT)]
    wait_until(lambda: gate.entered == LIMIT, timeout_s=30)

    refused = httpx.get(f"{url}/held", timeout=10)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["title"] == "Overloaded"
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    assert httpx.get(f"{url}/health/ready", timeout=10).status_code == 200
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    assert "http_requests_shed_total 1.0" in metrics

    gate.opened.set()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * LIMIT
    # the slots were given back
    assert httpx.get(f"{url}/held", timeout=10).status_code == 200


def test_an_open_event_stream_does_not_hold_a_slot(gated: tuple[str, Gate]) -> None:
    url, gate = gated
    with httpx.Client(timeout=30) as client:
        streams = [client.stream("GET", f"{url}/feed") for _ in range(LIMIT + 1)]
        for stream in streams:
            response = stream.__enter__()
            assert response.status_code == 200
        try:
            assert client.get(f"{url}/health").status_code == 200
            statuses: list[int] = []
            thread = _in_thread(f"{url}/held", statuses)
            wait_until(lambda: gate.entered == 1, timeout_s=30)
            gate.opened.set()
            thread.join(30)
            assert statuses == [200]
        finally:
            for stream in streams:
                stream.__exit__(None, None, None)


def test_every_operation_declares_503_with_retry_after(gated: tuple[str, Gate]) -> None:
    url, _ = gated
    schema = httpx.get(f"{url}/openapi.json", timeout=10).json()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if path in ("/health", "/health/ready", "/metrics"):
                assert "503" not in operation["responses"] or path == "/health/ready"
                continue
            declared = operation["responses"].get("503")
            assert declared is not None, (method, path)
            assert "Retry-After" in declared["headers"], (method, path)
            content = declared["content"]["application/problem+json"]["schema"]
            assert content == {"$ref": "#/components/schemas/ProblemDetails"}

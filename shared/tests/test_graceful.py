"""Graceful stop of a real service process: SIGTERM drains, deregisters, exits; a second
signal exits at once."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import add_token_route
from eco_shared.testing.servers import ThreadedServer

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
SLOW_APP = "_slow_service:create_app"


class Discovery:
    """The registration half of the discovery contract, with the time of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.app = FastAPI()
        add_token_route(self.app)

        @self.app.post("/instances", status_code=201)
        def register(body: dict[str, Any]) -> dict[str, Any]:
            self._record("register")
            return {"instance_id": body["instance_id"], "ttl_s": 15}

        @self.app.put("/instances/{instance_id}/heartbeat")
        def heartbeat(instance_id: str) -> dict[str, Any]:
            self._record("heartbeat")
            return {"instance_id": instance_id, "ttl_s": 15}

        @self.app.delete("/instances/{instance_id}", status_code=204)
        def deregister(instance_id: str) -> None:
            self._record("deregister")

    def _record(self, kind: str) -> None:
        with self.lock:
            self.calls.append((kind, time.monotonic()))

    def first(self, kind: str) -> float | None:
        with self.lock:
            return next((t for k, t in self.calls if k == kind), None)


@pytest.fixture
def discovery() -> Iterator[tuple[Discovery, str]]:
    fake = Discovery()
    with ThreadedServer(fake.app) as server:
        yield fake, server.url


def _start(
    start_service: Callable[..., ServiceProcess],
    eco_env: dict[str, str],
    discovery_url: str,
    **env: str,
) -> ServiceProcess:
    return start_service(
        SLOW_APP,
        env={
            **eco_env,
            "PYTHONPATH": str(HERE),
            "ECO_DISCOVERY_URL": discovery_url,
            "ECO_OTLP_ENDPOINT": "none",
            **env,
        },
        port_env="ECO_SLOW_PORT",
    )


def _inflight(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("http_requests_inflight "):
            return float(line.split()[1])
    return 0.0


def _call_in_thread(
    url: str, results: list[tuple[httpx.Response | BaseException, float]]
) -> threading.Thread:
    def call() -> None:
        try:
            results.append((httpx.get(url, timeout=60), time.monotonic()))
        except BaseException as exc:
            results.append((exc, time.monotonic()))

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def test_sigterm_finishes_the_request_in_flight_deregisters_and_exits(
    start_service: Callable[..., ServiceProcess],
    eco_env: dict[str, str],
    discovery: tuple[Discovery, str],
) -> None:
    fake, discovery_url = discovery
    service = _start(start_service, eco_env, discovery_url)
    wait_until(lambda: fake.first("register"), timeout_s=30)
    results: list[tuple[httpx.Response | BaseException, float]] = []
    thread = _call_in_thread(f"{service.url}/slow?seconds=5", results)
    wait_until(lambda: _inflight(service.url) >= 1, timeout_s=30)

    assert service.process is not None
    service.process.send_signal(signal.SIGTERM)
    thread.join(90)
    code = service.process.wait(60)

    [(response, answered_at)] = results
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200
    # the stop was announced to the service while the request was still being served
    assert response.json() == {"stopping_seen": True}
    deregistered = fake.first("deregister")
    assert deregistered is not None, service.log_tail()
    # deregistered at the signal, before the drain ended, so callers stop coming at once
    assert deregistered < answered_at
    assert code in (0, -signal.SIGTERM), service.log_tail()
    log = service.log_tail(20_000)
    assert "service_stopping" in log
    assert "service_stopped" in log
    assert "forced_exit" not in log


def test_a_second_signal_exits_at_once(
    start_service: Callable[..., ServiceProcess],
    eco_env: dict[str, str],
    discovery: tuple[Discovery, str],
) -> None:
    fake, discovery_url = discovery
    service = _start(start_service, eco_env, discovery_url, ECO_SLOW_SHUTDOWN_S="120")
    wait_until(lambda: fake.first("register"), timeout_s=30)
    assert service.process is not None
    service.process.send_signal(signal.SIGTERM)
    # the first signal began the (two-minute) shutdown
    wait_until(lambda: "service_stopping" in service.log_tail(20_000), timeout_s=30)
    assert service.alive
    service.process.send_signal(signal.SIGTERM)
    code = service.process.wait(30)
    assert code == 128 + signal.SIGTERM
    assert "forced_exit" in service.log_tail()

"""Fixtures for discovery's tests: real discovery processes with short leases, a live
watch-feed collector, and readers for the `eco.events` and `eco.audit` streams.

Every process and in-process server uses the test session's key material (`ECO_AUTH_DIR`),
so `ADMIN` (an admin user's tokens minted from it) authenticates against all of them."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from eco_discovery.main import build_app
from eco_discovery.settings import DiscoverySettings
from eco_shared.redis_server import free_port
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import TestAuth
from eco_shared.testing.servers import ThreadedServer

# an admin user's tokens for discovery, minted per request
ADMIN = TestAuth("discovery")

# The tests import their helpers as `discovery_helpers` (the package beside this file);
# pytest's importlib mode puts no test directory on sys.path.
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

DISCOVERY_APP = "eco_discovery.main:create_app"
EXAMPLE_APP = "eco_shared.testing.example_service:create_app"

# Short leases and intervals so a lapse, a probe and an eviction each take about a second.
FAST = {
    "ECO_DISCOVERY_DEFAULT_TTL_S": "1.5",
    "ECO_DISCOVERY_CHECK_INTERVAL_S": "0.5",
    "ECO_DISCOVERY_REAP_INTERVAL_S": "0.2",
    "ECO_DISCOVERY_DEREGISTER_CRITICAL_AFTER_S": "1.5",
    "ECO_DISCOVERY_WATCH_PING_S": "0.5",
}

StartDiscovery = Callable[..., ServiceProcess]


@pytest.fixture
def start_discovery(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str]
) -> StartDiscovery:
    """Start a real discovery process on the test's Redis prefix (fast settings + overrides)."""

    def start(port: int | None = None, **overrides: str) -> ServiceProcess:
        env = {**eco_env, **FAST, **overrides}
        return start_service(DISCOVERY_APP, env=env, port_env="ECO_DISCOVERY_PORT", port=port)

    return start


@pytest.fixture
def discovery_server(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[Callable[..., ThreadedServer]]:
    """Start discovery in this process (a real uvicorn server in a thread): fast to start."""
    servers: list[ThreadedServer] = []

    def start(**overrides: Any) -> ThreadedServer:
        port = free_port()
        fast = {k.removeprefix("ECO_DISCOVERY_").lower(): v for k, v in FAST.items()}
        settings = DiscoverySettings(
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            data_dir=tmp_path,
            environment="test",
            port=port,
            **{**fast, **overrides},
        )
        server = ThreadedServer(build_app(settings, configure_process=False), port=port).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def start_example(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str]
) -> Callable[..., ServiceProcess]:
    """Start a real example service that registers itself with the given discovery."""

    def start(discovery_url: str, instance_id: str, **overrides: str) -> ServiceProcess:
        env = {
            **eco_env,
            "ECO_DISCOVERY_URL": discovery_url,
            "ECO_EXAMPLE_INSTANCE_ID": instance_id,
            **overrides,
        }
        return start_service(EXAMPLE_APP, env=env, port_env="ECO_EXAMPLE_PORT")

    return start


def _stream_events(
    redis_url: str, prefix: str, *types: str, stream: str = "eco.events"
) -> list[dict[str, Any]]:
    """Events on a stream (decoded envelopes), optionally only of the given types."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        entries = client.xrange(f"{prefix}{stream}", "-", "+")
    finally:
        client.close()
    events = []
    for _entry_id, fields in entries:
        event = {**fields, "data": json.loads(fields["data"])}
        if not types or event["type"] in types:
            events.append(event)
    return events


class WatchCollector:
    """Reads `GET /watch` in a thread and keeps every server-sent event it receives."""

    def __init__(
        self,
        url: str,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth = ADMIN,
    ) -> None:
        self.url = url
        self.params = params or {}
        self.headers = headers or {}
        self.auth = auth
        self.events: list[dict[str, Any]] = []
        self.pings = 0
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> WatchCollector:
        self._thread.start()
        if not self.connected.wait(10):
            raise TimeoutError("the watch feed did not connect")
        return self

    def _run(self) -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(5.0), auth=self.auth) as client,
            client.stream(
                "GET", f"{self.url}/watch", params=self.params, headers=self.headers
            ) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            self.connected.set()
            current: dict[str, str] = {}
            try:
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if not line:
                        if "data" in current:
                            with self._lock:
                                self.events.append(
                                    {
                                        "sse_id": current.get("id"),
                                        "event": current.get("event"),
                                        **json.loads(current["data"]),
                                    }
                                )
                        current = {}
                    elif line.startswith(":"):
                        self.pings += 1
                    else:
                        name, _, value = line.partition(":")
                        current[name] = value.removeprefix(" ")
            except httpx.HTTPError:
                # The process under test was stopped; what was received is kept.
                return

    def of(self, type_: str, instance_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                e
                for e in self.events
                if e["type"] == type_
                and (instance_id is None or e["data"].get("instance_id") == instance_id)
            ]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def watch() -> Iterator[Callable[..., WatchCollector]]:
    """Start live watch-feed collectors; they stop after the test."""
    started: list[WatchCollector] = []

    def start(url: str, headers: dict[str, str] | None = None, **params: str) -> WatchCollector:
        collector = WatchCollector(url, params, headers).start()
        started.append(collector)
        return collector

    yield start
    for collector in started:
        collector.stop()


@pytest.fixture
def bus_events(redis_url: str, redis_prefix: str) -> Callable[..., list[dict[str, Any]]]:
    """Read this test's `eco.events` (optionally only some types)."""

    def read(*types: str) -> list[dict[str, Any]]:
        return _stream_events(redis_url, redis_prefix, *types)

    return read


@pytest.fixture
def audit_events(redis_url: str, redis_prefix: str) -> Callable[..., list[dict[str, Any]]]:
    """Read this test's `eco.audit` (optionally only some types)."""

    def read(*types: str) -> list[dict[str, Any]]:
        return _stream_events(redis_url, redis_prefix, *types, stream="eco.audit")

    return read


@pytest.fixture
def status_of() -> Callable[[str, str], str | None]:
    """An instance's status as discovery reports it, None once it is gone."""

    def status(discovery_url: str, instance_id: str) -> str | None:
        response = httpx.get(f"{discovery_url}/instances/{instance_id}", timeout=5, auth=ADMIN)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        value: str = response.json()["status"]
        return value

    return status

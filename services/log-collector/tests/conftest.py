"""Fixtures of the log collector's tests: a real collector process on a real database.

Every call to the collector carries a token minted with the test session's key material
(`AUTH`: an admin for audience `log-collector`), as the issuer would mint it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from eco_shared.bus import LOGS, Event
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth

APP = "eco_log_collector.main:create_app"
PORT_ENV = "ECO_LOG_COLLECTOR_PORT"
AUTH = TestAuth("log-collector")


def collector_env(
    redis_url: str, prefix: str, data_dir: Path, database_url: str, **extra: str
) -> dict[str, str]:
    """Environment of a collector process on the given Redis prefix and database."""
    return {
        "ECO_REDIS_URL": redis_url,
        "ECO_REDIS_PREFIX": prefix,
        "ECO_DATA_DIR": str(data_dir),
        "ECO_ENVIRONMENT": "test",
        "ECO_LOG_FORMAT": "json",
        "ECO_OTLP_ENDPOINT": "none",
        "ECO_LOG_COLLECTOR_DATABASE_URL": database_url,
        "ECO_LOG_COLLECTOR_REGISTER_WITH_DISCOVERY": "false",
        "ECO_LOG_COLLECTOR_BLOCK_MS": "100",
        **extra,
    }


def log_fields(
    message: str,
    *,
    service: str,
    level: str = "info",
    time: str | None = None,
    event_id: str | None = None,
    **data: Any,
) -> dict[str, str]:
    """Stream fields of one `log.record` envelope, as the shipper writes them."""
    payload = {"event": message, "level": level, "service": service, **data}
    kwargs: dict[str, Any] = {}
    if time is not None:
        kwargs["time"] = time
    if event_id is not None:
        kwargs["id"] = event_id
    return Event(type="log.record", source=service, data=payload, **kwargs).to_fields()


def publish(redis_url: str, key: str, entries: list[Mapping[str, str]]) -> list[str]:
    """XADD raw entries in one pipeline; return their entry ids."""
    client = redis.Redis.from_url(redis_url)
    try:
        pipe = client.pipeline(transaction=False)
        for fields in entries:
            pipe.xadd(key, dict(fields))  # type: ignore[arg-type]
        return [i.decode() for i in pipe.execute()]
    finally:
        client.close()


def publish_logs(redis_url: str, prefix: str, entries: list[Mapping[str, str]]) -> list[str]:
    """XADD log envelopes to this prefix's `eco.logs`."""
    return publish(redis_url, f"{prefix}{LOGS}", entries)


def wait_for_logs(base_url: str, count: int, timeout_s: float = 15.0, **params: Any) -> list[Any]:
    """Poll `GET /logs` until it lists exactly `count` records; return them."""
    last: list[Any] = []

    def check() -> bool:
        nonlocal last
        response = httpx.get(
            f"{base_url}/logs", params={"limit": 1000, **params}, timeout=5, auth=AUTH
        )
        response.raise_for_status()
        last = response.json()["items"]
        return len(last) >= count

    try:
        wait_until(check, timeout_s=timeout_s, interval_s=0.1)
    except TimeoutError:
        raise AssertionError(f"expected {count} records, got {len(last)}") from None
    assert len(last) == count, f"expected {count} records, got {len(last)}"
    return last


def cursor_pages(base_url: str, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of `GET path` (each page's items), following `next_cursor` to the end."""
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = httpx.get(f"{base_url}{path}", params=query, timeout=10, auth=AUTH)
        response.raise_for_status()
        page = response.json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


def unique(name: str) -> str:
    """A service name private to one test, so tests can share a collector."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def module_prefix(redis_url: str, module_database_url: str) -> Iterator[str]:
    """A Redis key prefix of one module and backend (so each gets its own streams)."""
    prefix = f"test-lc-{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="module")
def shared_collector(
    redis_url: str,
    module_prefix: str,
    module_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceProcess]:
    """One collector process per module and database backend."""
    tmp = tmp_path_factory.mktemp("collector")
    proc = ServiceProcess(
        APP,
        env=collector_env(redis_url, module_prefix, tmp, module_database_url),
        port_env=PORT_ENV,
        log_dir=tmp,
        ready_path="/health/ready",
    )
    proc.start(timeout_s=60)
    yield proc
    proc.terminate()


@pytest.fixture
def start_collector(
    redis_url: str, redis_prefix: str, tmp_path: Path, database_url: str
) -> Iterator[Callable[..., ServiceProcess]]:
    """Start a collector of this test's own (extra settings as keyword arguments)."""
    started: list[ServiceProcess] = []

    def start(port: str | None = None, **extra: str) -> ServiceProcess:
        env = collector_env(redis_url, redis_prefix, tmp_path, database_url, **extra)
        proc = ServiceProcess(
            APP,
            env=env,
            port_env=PORT_ENV,
            ready_path="/health/ready",
            port=int(port) if port else None,
            log_dir=tmp_path,
        )
        started.append(proc)
        # generous: start-up imports are slow on a loaded machine
        return proc.start(timeout_s=60)

    yield start
    for proc in started:
        proc.terminate()


class Helpers:
    """The helpers above, for test modules (importlib mode cannot import conftest)."""

    auth = AUTH
    log_fields = staticmethod(log_fields)
    publish = staticmethod(publish)
    publish_logs = staticmethod(publish_logs)
    wait_for_logs = staticmethod(wait_for_logs)
    cursor_pages = staticmethod(cursor_pages)
    unique = staticmethod(unique)


@pytest.fixture(scope="session")
def lc() -> type[Helpers]:
    """Helpers to publish records and wait for them."""
    return Helpers

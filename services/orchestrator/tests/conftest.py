"""Fixtures for the orchestrator's own tests: a real orchestrator process, no other services.

Discovery points at a port where nothing listens, so every run meets a service that is
down; the tests that need the whole ecosystem live in the root `tests/test_flagship.py`
(and the delegation through the real issuer in `test_orchestrator_delegation.py`).
The orchestrator verifies callers with the test session's public keys only
(`verifier_auth_dir`): the tests call it with tokens minted for users, and it holds no
client secret of its own, so it asks no issuer for a run grant and its calls carry no
token (there is no issuer here to ask; the grant path is the delegation test's).
One orchestrator per module and database backend (SQLite, and PostgreSQL when
`ECO_TEST_DATABASE_URL` is set), because a process takes seconds to start; a test that
needs its own settings starts one with `start_orchestrator(**settings)`.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from eco_shared.auth import AuthMaterial
from eco_shared.redis_server import free_port
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import session_material

APP = "eco_orchestrator.main:create_app"


def verifier_auth_dir(directory: Path) -> Path:
    """An auth directory with only the session's public keys (`jwks.json`): a service
    started on it verifies the session's tokens and holds no credentials of its own."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(session_material().jwks_path, AuthMaterial(directory).jwks_path)
    return directory


@contextlib.contextmanager
def running_orchestrator(
    redis_url: str, prefix: str, database_url: str, data_dir: Path, **settings: str
) -> Iterator[ServiceProcess]:
    """An orchestrator process on the Redis key prefix `prefix`, discovery absent;
    `settings` are `ECO_ORCHESTRATOR_<NAME>` values."""
    env = {
        "ECO_REDIS_URL": redis_url,
        "ECO_REDIS_PREFIX": prefix,
        "ECO_DATA_DIR": str(data_dir),
        "ECO_ENVIRONMENT": "test",
        "ECO_LOG_FORMAT": "json",
        "ECO_DISCOVERY_URL": f"http://127.0.0.1:{free_port()}",
        "ECO_ORCHESTRATOR_REGISTER_WITH_DISCOVERY": "false",
        "ECO_ORCHESTRATOR_DATABASE_URL": database_url,
        "ECO_AUTH_DIR": str(verifier_auth_dir(data_dir / "auth")),
        **{f"ECO_ORCHESTRATOR_{name.upper()}": value for name, value in settings.items()},
    }
    proc = ServiceProcess(APP, env=env, port_env="ECO_ORCHESTRATOR_PORT", log_dir=data_dir)
    proc.start(timeout_s=90)
    try:
        yield proc
    finally:
        proc.terminate()


@pytest.fixture
def verifier_auth(tmp_path: Path) -> Path:
    """`verifier_auth_dir` for one test (`ECO_AUTH_DIR` of a service it starts itself)."""
    return verifier_auth_dir(tmp_path / "verifier-auth")


@pytest.fixture
def start_orchestrator(
    redis_url: str, redis_prefix: str, module_database_url: str, tmp_path: Path
) -> Callable[..., contextlib.AbstractContextManager[ServiceProcess]]:
    """`with start_orchestrator(**settings) as proc:` an orchestrator of this test alone."""
    return functools.partial(
        running_orchestrator, redis_url, redis_prefix, module_database_url, tmp_path
    )


@pytest.fixture(scope="module")
def orchestrator(
    redis_url: str, module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """An orchestrator with short limits (two attempts a node, queries up to 500 chars)."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    data_dir = tmp_path_factory.mktemp("orch")
    short = {
        "node_max_attempts": "2",
        "checkpoint_retention_s": "0",
        "prune_interval_s": "0.5",
        "max_query_chars": "500",
    }
    with running_orchestrator(redis_url, prefix, module_database_url, data_dir, **short) as proc:
        yield proc
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()

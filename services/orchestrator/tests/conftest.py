"""Fixtures for the orchestrator's own tests: a real orchestrator process, no other services.

Discovery points at a port where nothing listens, so every run meets a service that is
down; the tests that need the whole ecosystem live in the root `tests/test_flagship.py`.
One orchestrator per module and database backend (SQLite, and PostgreSQL when
`ECO_TEST_DATABASE_URL` is set), because a process takes seconds to start.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from eco_shared.redis_server import free_port
from eco_shared.testing import ServiceProcess

APP = "eco_orchestrator.main:create_app"


@pytest.fixture(scope="module")
def orchestrator(
    redis_url: str, module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """An orchestrator process on its own Redis prefix and database, discovery absent."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    data_dir = tmp_path_factory.mktemp("orch")
    env = {
        "ECO_REDIS_URL": redis_url,
        "ECO_REDIS_PREFIX": prefix,
        "ECO_DATA_DIR": str(data_dir),
        "ECO_ENVIRONMENT": "test",
        "ECO_LOG_FORMAT": "json",
        "ECO_DISCOVERY_URL": f"http://127.0.0.1:{free_port()}",
        "ECO_ORCHESTRATOR_REGISTER_WITH_DISCOVERY": "false",
        "ECO_ORCHESTRATOR_DATABASE_URL": module_database_url,
        "ECO_ORCHESTRATOR_NODE_MAX_ATTEMPTS": "2",
        "ECO_ORCHESTRATOR_CHECKPOINT_RETENTION_S": "0",
        "ECO_ORCHESTRATOR_PRUNE_INTERVAL_S": "0.5",
        "ECO_ORCHESTRATOR_MAX_QUERY_CHARS": "500",
    }
    proc = ServiceProcess(APP, env=env, port_env="ECO_ORCHESTRATOR_PORT", log_dir=data_dir)
    proc.start(timeout_s=90)
    yield proc
    proc.terminate()
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()

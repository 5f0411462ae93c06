"""Fixtures: one real prompt-store process per test module, on SQLite and (when configured)
PostgreSQL, with a Redis prefix of its own; tests keep apart by unique prompt names."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import TestAuth

AUDIENCE = "prompt-store"


@dataclass(frozen=True)
class Store:
    """A running prompt store: where it listens and the Redis prefix its bus writes under."""

    url: str
    prefix: str
    process: ServiceProcess


def store_env(database_url: str, redis_url: str, prefix: str, data_dir: Path) -> dict[str, str]:
    """The environment of a prompt-store process on these resources."""
    return {
        "ECO_REDIS_URL": redis_url,
        "ECO_REDIS_PREFIX": prefix,
        "ECO_DATA_DIR": str(data_dir),
        "ECO_PROMPT_STORE_DATABASE_URL": database_url,
        "ECO_PROMPT_STORE_REGISTER_WITH_DISCOVERY": "false",
        "ECO_PROMPT_STORE_WATCH_PING_S": "1",
        "ECO_DISCOVERY_URL": "http://127.0.0.1:1",
        "ECO_OTLP_ENDPOINT": "none",
        "ECO_ENVIRONMENT": "test",
    }


@pytest.fixture(scope="module")
def store(
    module_database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One prompt store for the module (a real uvicorn process)."""
    data_dir = tmp_path_factory.mktemp("prompt-store")
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    process = ServiceProcess(
        "eco_prompt_store.main:create_app",
        env=store_env(module_database_url, redis_url, prefix, data_dir),
        port_env="ECO_PROMPT_STORE_PORT",
        ready_path="/health/ready",
        log_dir=data_dir,
    )
    process.start()
    try:
        yield Store(process.url, prefix, process)
    finally:
        process.terminate()
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the module's store, as an admin user (`user:test`)."""
    async with httpx.AsyncClient(base_url=store.url, timeout=60, auth=TestAuth(AUDIENCE)) as http:
        yield http


@pytest.fixture
def name() -> str:
    """A prompt name no other test uses."""
    return f"p-{uuid.uuid4().hex[:12]}"


NewPrompt = Callable[..., Awaitable[list[dict[str, Any]]]]


@pytest.fixture
def new_prompt(client: httpx.AsyncClient) -> NewPrompt:
    """`await new_prompt(name, *templates, kind=..., **version_fields)`: create prompt `name`
    and push each template as a version; the versions pushed."""

    async def make(name: str, *templates: str, kind: str = "text", **version: Any) -> list[Any]:
        created = await client.post("/prompts", json={"name": name, "kind": kind})
        assert created.status_code == 201, created.text
        out = []
        for text in templates:
            body = {"template": text, **version}
            pushed = await client.post(f"/prompts/{name}/versions", json=body)
            assert pushed.status_code == 201, pushed.text
            out.append(pushed.json())
        return out

    return make

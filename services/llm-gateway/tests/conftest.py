"""Fixtures of the llm-gateway tests: provider doubles and the issuer on real HTTP servers,
and the gateway itself on a real uvicorn server."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eco_llm_gateway.main import build_app
from eco_llm_gateway.settings import LlmGatewaySettings
from eco_shared.testing.servers import ThreadedServer

# The tests import their provider doubles as `gateway_doubles` (the package beside this file);
# pytest's importlib mode puts no test directory on sys.path.
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# isort: split
from gateway_doubles import (  # noqa: E402
    ANTHROPIC_KEY,
    OFFLINE,
    OPENAI_KEY,
    IssuerDouble,
    ProviderDouble,
)


@pytest.fixture
def openai_double() -> Iterator[ProviderDouble]:
    """An OpenAI-compatible server (chat completions, SSE, error bodies) on a free port."""
    double = ProviderDouble("openai", OPENAI_KEY)
    with double.server:
        yield double


@pytest.fixture
def anthropic_double() -> Iterator[ProviderDouble]:
    """An Anthropic Messages API server (SSE events, error bodies) on a free port."""
    double = ProviderDouble("anthropic", ANTHROPIC_KEY)
    with double.server:
        yield double


@pytest.fixture
def issuer() -> Iterator[IssuerDouble]:
    """The issuer's token and introspection endpoints (keys are active unless revoked)."""
    double = IssuerDouble()
    with double.server:
        yield double


@pytest.fixture
def gateway(redis_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start the gateway in-process on a real uvicorn server; returns its base URL. It
    verifies tokens with the session's key material; pass `auth_issuer` for key checks."""
    servers: list[ThreadedServer] = []

    def start(providers: list[dict[str, Any]] | None = None, **overrides: Any) -> str:
        settings = LlmGatewaySettings(
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            data_dir=tmp_path,
            environment="test",
            register_with_discovery=False,
            providers=providers or [OFFLINE],
            **overrides,
        )
        server = ThreadedServer(build_app(settings, configure_process=False)).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()

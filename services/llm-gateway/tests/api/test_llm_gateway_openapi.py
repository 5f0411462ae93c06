"""The gateway's OpenAPI declares the problems each route can return, as problem+json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eco_llm_gateway.main import build_app
from eco_llm_gateway.settings import LlmGatewaySettings

PROBLEM = {"$ref": "#/components/schemas/ProblemDetails"}
DECLARED = [
    ("post", "/v1/chat/completions", {"400", "404", "413", "422", "429", "502", "503"}),
    ("get", "/v1/providers", {"422"}),
    ("get", "/v1/usage", {"422"}),
    ("get", "/v1/usage/log", {"422"}),
]


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = LlmGatewaySettings(
        data_dir=Path(tmp_path_factory.mktemp("gw")),
        environment="test",
        register_with_discovery=False,
    )
    openapi: dict[str, Any] = build_app(settings, configure_process=False).openapi()
    return openapi


@pytest.mark.parametrize(("method", "path", "statuses"), DECLARED)
def test_routes_declare_their_problems(
    spec: dict[str, Any], method: str, path: str, statuses: set[str]
) -> None:
    responses = spec["paths"][path][method]["responses"]
    assert statuses <= set(responses)
    for status in statuses:
        content = responses[status]["content"]
        assert content["application/problem+json"]["schema"] == PROBLEM, status


def test_usage_log_entries_carry_typed_attempts(spec: dict[str, Any]) -> None:
    entry = spec["components"]["schemas"]["UsageLogEntry"]["properties"]
    assert entry["attempts"]["items"] == {"$ref": "#/components/schemas/Attempt"}

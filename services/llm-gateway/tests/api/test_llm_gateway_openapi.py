"""The gateway's OpenAPI declares the scopes each route needs and the errors it can return:
in OpenAI's shape on `/v1/*` (a 422 is a 400 there; 401 and 403 too), problem+json
elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eco_llm_gateway.main import build_app
from eco_llm_gateway.settings import LlmGatewaySettings

OPENAI_ERROR = {"$ref": "#/components/schemas/OpenAIError"}
DECLARED = [
    ("post", "/v1/chat/completions", {"400", "401", "403", "404", "413", "429", "502", "503"}),
    ("get", "/v1/models", {"401", "403"}),
    ("get", "/v1/models/{model}", {"401", "403", "404"}),
    ("get", "/v1/providers", {"400", "401", "403"}),
    ("get", "/v1/usage", {"400", "401", "403"}),
    ("get", "/v1/usage/log", {"400", "401", "403"}),
]
SCOPES = {
    ("post", "/v1/chat/completions"): ["gateway:chat"],
    ("get", "/v1/models"): ["gateway:read"],
    ("get", "/v1/models/{model}"): ["gateway:read"],
    ("get", "/v1/providers"): ["gateway:read"],
    ("get", "/v1/usage"): ["gateway:read"],
    ("get", "/v1/usage/log"): ["gateway:read"],
}


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
    assert "422" not in responses
    for status in statuses:
        content = responses[status]["content"]
        assert content == {"application/json": {"schema": OPENAI_ERROR}}, status


def test_every_operation_declares_its_scopes(spec: dict[str, Any]) -> None:
    declared = {
        (method, path): operation["x-eco-scopes"]
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if not operation.get("x-eco-public")
    }
    assert declared == SCOPES
    for method, path in SCOPES:
        assert spec["paths"][path][method]["security"] == [{"bearer": SCOPES[(method, path)]}]
    assert spec["paths"]["/health"]["get"]["security"] == []


def test_the_request_schema_says_what_no_provider_honours(spec: dict[str, Any]) -> None:
    request = spec["components"]["schemas"]["ChatCompletionRequest"]
    dropped, honoured = request["anyOf"]
    assert dropped["properties"]["drop_params"] == {"const": True}
    assert honoured["properties"]["tools"] == {"type": "null"}
    assert honoured["properties"]["n"] == {"enum": [None, 1]}
    assert "seed" not in honoured["properties"]  # the offline provider is deterministic
    assert request["properties"]["messages"]["maxItems"] == 256


def test_usage_log_entries_carry_typed_attempts(spec: dict[str, Any]) -> None:
    entry = spec["components"]["schemas"]["UsageLogEntry"]["properties"]
    assert entry["attempts"]["items"] == {"$ref": "#/components/schemas/Attempt"}

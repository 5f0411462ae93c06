"""Provider settings: defaults, JSON from the environment, and what is refused."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from eco_llm_gateway.settings import LlmGatewaySettings

REMOTE = {
    "name": "openai",
    "kind": "openai",
    "base_url": "https://api.example.test/v1",
    "models": ["gpt-x", "gpt-y"],
}


def test_default_is_only_the_offline_provider() -> None:
    settings = LlmGatewaySettings(_env_file=None)  # type: ignore[call-arg]
    assert [(p.name, p.kind, p.local, p.models) for p in settings.providers] == [
        ("offline", "offline", True, ["extractive-1"])
    ]
    assert settings.preference() == [("offline", "extractive-1")]
    assert settings.port == 5055
    assert settings.service_name == "llm-gateway"


def test_providers_and_routing_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    providers = [
        {**REMOTE, "api_key": "sk-live-" + "9f8e7d6c5b4a39281706"},
        {
            "name": "ollama",
            "kind": "openai",
            "base_url": "http://127.0.0.1:11434/v1",
            "models": ["llama3"],
            "local": True,
        },
        {"name": "offline", "kind": "offline", "local": False},
    ]
    monkeypatch.setenv("ECO_LLM_GATEWAY_PROVIDERS", json.dumps(providers))
    monkeypatch.setenv("ECO_LLM_GATEWAY_ROUTING", '["ollama", "openai/gpt-y", "offline"]')
    monkeypatch.setenv("ECO_ENVIRONMENT", "production")
    settings = LlmGatewaySettings()
    assert [p.name for p in settings.providers] == ["openai", "ollama", "offline"]
    assert settings.provider("ollama").local is True  # type: ignore[union-attr]
    assert settings.provider("offline").local is True  # type: ignore[union-attr]
    assert settings.preference() == [
        ("ollama", "llama3"),
        ("openai", "gpt-y"),
        ("offline", "extractive-1"),
    ]


@pytest.mark.parametrize("key", ["changeme", "your-api-key", "sk-xxxxxxxx", "<OPENAI_KEY>", ""])
def test_placeholder_keys_are_refused_outside_dev(key: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        LlmGatewaySettings(environment="test", providers=[{**REMOTE, "api_key": key}])
    dev = LlmGatewaySettings(environment="dev", providers=[{**REMOTE, "api_key": key}])
    assert dev.providers[0].api_key is not None


@pytest.mark.parametrize(
    ("providers", "routing", "message"),
    [
        ([{"name": "openai", "kind": "openai", "models": ["m"]}], [], "needs a base_url"),
        ([{**REMOTE, "models": []}], [], "at least one model"),
        ([REMOTE, REMOTE], [], "unique"),
        ([REMOTE], ["anthropic"], "unknown provider"),
        ([REMOTE], ["openai/gpt-z"], "unknown model"),
        ([{**REMOTE, "base_url": "ftp://x"}], [], "http"),
    ],
)
def test_bad_provider_configs_are_refused(
    providers: list[dict[str, object]], routing: list[str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        LlmGatewaySettings(providers=providers, routing=routing)

"""The gateway as a real process: its adapter against its OpenAPI, configuration from the
environment, providers that never see one of our tokens, and logs that never carry
sensitive values."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from gateway_doubles import ProviderDouble, caller_headers, provider_config

from eco_shared.adapters import AdapterError, check_adapter_against_openapi
from eco_shared.adapters.llm_gateway import LlmGatewayAdapter
from eco_shared.auth import service_subject
from eco_shared.http import ServiceClient
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import MintedTokens

APP = "eco_llm_gateway.main:create_app"
PORT_ENV = "ECO_LLM_GATEWAY_PORT"
NO_DISCOVERY = {"ECO_LLM_GATEWAY_REGISTER_WITH_DISCOVERY": "false"}
ORCHESTRATOR = service_subject("orchestrator")
# what the issuer's policy gives the orchestrator of the gateway's scopes
ORCHESTRATOR_SCOPES = ("gateway:chat", "gateway:read")


async def test_adapter_matches_the_openapi_and_works(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str]
) -> None:
    proc = start_service(APP, env={**eco_env, **NO_DISCOVERY}, port_env=PORT_ENV)
    spec = httpx.get(f"{proc.url}/openapi.json").json()
    assert check_adapter_against_openapi(LlmGatewayAdapter, spec) == []

    tokens = MintedTokens(ORCHESTRATOR_SCOPES, subject=ORCHESTRATOR)
    async with ServiceClient(service_name="orchestrator", tokens=tokens) as http:
        gw = LlmGatewayAdapter(http, base_url=proc.url)
        assert (await gw.health())["service"] == "llm-gateway"
        result = await gw.chat([{"role": "user", "content": "hello"}], temperature=0)
        assert result.provider == "offline"
        assert result.model == "offline/extractive-1"
        assert not result.cache_hit
        again = await gw.chat([{"role": "user", "content": "hello"}], temperature=0)
        assert again.cache_hit
        label = await gw.classify("show me yesterday's error logs", ["search", "query_logs"])
        assert label["label"] == "query_logs"
        assert label["_eco"]["provider"] == "offline"
        found = await gw.extract_entities(
            "doc-store errors in the last 2 hours as markdown",
            now=datetime(2025, 1, 1, tzinfo=UTC),
        )
        assert {(e["type"], str(e["value"])[:9]) for e in found["entities"]} >= {
            ("service", "doc-store"),
            ("format", "markdown"),
        }
        summary = await gw.summarize("First point here. Second point there.", max_sentences=1)
        assert len(summary["sentences"]) == 1
        outline = await gw.outline("# T\n## A\nOne. Two.\n## B\nThree.")
        assert [s["heading"] for s in outline["sections"]] == ["A", "B"]
        assert "offline/extractive-1" in [m.id for m in await gw.models()]
        providers = await gw.providers(probe=True)
        probed = providers.providers[0].probe
        assert probed is not None
        assert probed.ok is True
        usage = await gw.usage(since="1h")
        assert set(usage.by_caller) == {ORCHESTRATOR}
        assert usage.totals.calls == 6
        assert usage.totals.cache_hits == 1
        log = await gw.usage_log(caller=ORCHESTRATOR, limit=2)
        assert [e.task for e in log] == ["outline", "summarize"]
        with pytest.raises(AdapterError) as refused:
            await gw.chat([{"role": "user", "content": "x"}], model="nope/nope")
        assert refused.value.status == 404
        # The adapter reads the problem behind the OpenAI-shaped error.
        assert refused.value.problem["type"] == "urn:eco:problem:unknown-model"
        assert refused.value.problem["code"] == "model_not_found"
        assert "nope/nope" in str(refused.value)
        with pytest.raises(AdapterError) as unsupported:
            await gw.chat([{"role": "user", "content": "x"}], max_tokens=10**6)
        assert unsupported.value.status == 400
        assert unsupported.value.problem["param"] == "max_tokens"
        card = await gw.model("offline/extractive-1")
        assert card is not None
        assert card.provider == "offline"
        assert await gw.model("nope/nope") is None
    async with ServiceClient(service_name="orchestrator") as http:
        with pytest.raises(AdapterError) as anonymous:
            await LlmGatewayAdapter(http, base_url=proc.url).models()
        assert anonymous.value.status == 401


def test_providers_come_from_the_environment_never_see_our_tokens_and_secrets_stay_out_of_logs(
    start_service: Callable[..., ServiceProcess],
    eco_env: dict[str, str],
    openai_double: ProviderDouble,
) -> None:
    providers = [provider_config(openai_double), {"name": "offline", "kind": "offline"}]
    env = {
        **eco_env,
        **NO_DISCOVERY,
        "ECO_LLM_GATEWAY_PROVIDERS": json.dumps(providers),
        "ECO_LLM_GATEWAY_ROUTING": '["openai", "offline"]',
    }
    proc = start_service(APP, env=env, port_env=PORT_ENV)
    user = caller_headers()
    plain = httpx.post(
        f"{proc.url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers=user,
    ).json()
    assert plain["eco"]["provider"] == "openai"
    # The provider gets its own API key, never the caller's token nor one of the gateway's.
    seen = openai_double.chat_requests()[0]["headers"]
    assert seen["authorization"] == f"Bearer {openai_double.key}"
    assert user["Authorization"].split()[1] not in json.dumps(seen)
    assert "eyJ" not in json.dumps(seen)  # no JWT at all

    email, card = "grace.hopper@example.com", "4111 1111 1111 1111"
    secret = httpx.post(
        f"{proc.url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": f"Bill {email} on card {card}"}]},
        headers=user,
    ).json()
    assert secret["eco"]["provider"] == "offline"
    assert len(openai_double.chat_requests()) == 1
    proc.terminate()
    logs = proc.log_tail(200_000)
    assert "sensitive_content_detected" in logs
    assert "card_number" in logs
    assert email not in logs
    assert card not in logs
    assert openai_double.key not in logs

"""The contract test: schemathesis (every check, every phase) against a real gateway process.

Nothing is excluded: streamed answers (`stream: true`) end with `[DONE]`, so schemathesis
drives them like any other request (the run below asserts that it did). It calls with an
admin's token, and checks on its own that every protected operation refuses a request
without one (`ignored_auth`).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import bearer
from eco_shared.testing.contract import assert_contract

APP = "eco_llm_gateway.main:create_app"
AUDIENCE = "llm-gateway"
ENV = {
    "ECO_LLM_GATEWAY_REGISTER_WITH_DISCOVERY": "false",
    "ECO_DISCOVERY_URL": "http://127.0.0.1:1",
    "ECO_OTLP_ENDPOINT": "none",
}


def test_the_gateway_keeps_its_openapi_contract(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str]
) -> None:
    proc = start_service(APP, env={**eco_env, **ENV}, port_env="ECO_LLM_GATEWAY_PORT")
    seed = {"messages": [{"role": "user", "content": "Summarise the doc-store logs"}]}
    seeded = httpx.post(f"{proc.url}/v1/chat/completions", json=seed, headers=bearer(AUDIENCE))
    assert seeded.status_code == 200

    assert_contract(proc.url, max_examples=30, headers=bearer(AUDIENCE))

    log = httpx.get(
        f"{proc.url}/v1/usage/log", params={"limit": 1000}, headers=bearer(AUDIENCE)
    ).json()["entries"]
    assert any(entry["stream"] and entry["status"] == 200 for entry in log)
    assert any(not entry["stream"] and entry["status"] == 200 for entry in log)

"""The contract test: schemathesis (every check, every phase) against the real process, as
an admin, with a few prompts, versions and labels seeded so the stateful phase finds some."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import TestAuth, bearer
from eco_shared.testing.contract import assert_contract

WATCH = {"/prompts/watch": "a server-sent-events stream; test_prompt_store_labels covers it"}
# Nothing listens at the discovery URL the test gives: the LLM gateway cannot be found.
GATEWAY_AWAY = {
    "/prompts/{name}/versions/{version}/variations": (
        (502, 503),
        "variations are generated through the LLM gateway, which this test leaves out",
    )
}

# Rules of one stored prompt or version that no JSON Schema can state: these operations
# refuse some schema-valid requests, and only with these statuses (any other still fails).
REJECTIONS = {
    "/prompts/{name}/versions": (
        (422,),
        "a template is refused by its own syntax rules (a chat prompt's JSON, undeclared"
        " variables, a Jinja syntax error), which depend on the prompt's kind",
    ),
    "/prompts/{name}/versions/{version}/render": (
        (422,),
        "the variables a render needs are the stored version's declarations",
    ),
    "/prompts/{name}/labels/{label}": ((400,), "`latest` is a valid label that moves by itself"),
    "/prompts/{name}/labels/{label}/rollback": ((400,), "`latest` cannot be rolled back"),
    "/experiments": (
        (422,),
        "arms' weights must sum to 1 and name versions that exist (cross-field rules)",
    ),
    "/exposures": ((422,), "exposures name experiments and arms that must exist"),
}


def _seed(url: str) -> None:
    with httpx.Client(base_url=url, auth=TestAuth("prompt-store"), timeout=30) as http:
        for name, template in (("greet", "Hello {{ who }}"), ("brief", "Write about {{ topic }}")):
            assert http.post("/prompts", json={"name": name, "tags": ["seed"]}).status_code == 201
            variables = {"who": {"type": "string"}, "topic": {"type": "string"}}
            body = {
                "template": template,
                "variables": {k: v for k, v in variables.items() if k in template},
            }
            assert http.post(f"/prompts/{name}/versions", json=body).status_code == 201
            move = {"version": 1, "expected_version": None, "reason": "seed"}
            assert http.put(f"/prompts/{name}/labels/production", json=move).status_code == 200


@pytest.mark.timeout(900)  # every phase over every route; minutes on a busy machine
def test_the_openapi_document_tells_the_truth(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str], database_url: str
) -> None:
    service = start_service(
        "eco_prompt_store.main:create_app",
        env={
            **eco_env,
            "ECO_PROMPT_STORE_DATABASE_URL": database_url,
            "ECO_PROMPT_STORE_REGISTER_WITH_DISCOVERY": "false",
            "ECO_DISCOVERY_URL": "http://127.0.0.1:1",
            "ECO_OTLP_ENDPOINT": "none",
        },
        port_env="ECO_PROMPT_STORE_PORT",
        ready_path="/health/ready",
    )
    _seed(service.url)
    assert_contract(
        service.url,
        exclude_paths=WATCH,
        upstream_errors=GATEWAY_AWAY,
        rejections=REJECTIONS,
        max_examples=20,
        headers=bearer("prompt-store"),
    )

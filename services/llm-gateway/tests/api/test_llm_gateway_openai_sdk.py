"""The official `openai` SDK against a real gateway process: models, chat, streaming with
usage, readable errors (auth errors too), unsupported parameters, and retries and timeouts
as the SDK does them. The token is the SDK's `api_key` (it sends it as a Bearer token)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from gateway_doubles import (
    AUDIENCE,
    OFFLINE,
    USER_SCOPES,
    Behavior,
    ProviderDouble,
    caller_headers,
    provider_config,
)

from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import token

APP = "eco_llm_gateway.main:create_app"
PORT_ENV = "ECO_LLM_GATEWAY_PORT"
HELLO = [{"role": "user", "content": "Where are the doc-store docs for run-42?"}]
SDK_USER = "user:sdk"
Start = Callable[..., ServiceProcess]


def start_gateway(start_service: Start, eco_env: dict[str, str], **settings: Any) -> str:
    env = {**eco_env, "ECO_LLM_GATEWAY_REGISTER_WITH_DISCOVERY": "false"}
    for name, value in settings.items():
        text = value if isinstance(value, str) else json.dumps(value)
        env[f"ECO_LLM_GATEWAY_{name.upper()}"] = text
    return start_service(APP, env=env, port_env=PORT_ENV).url


Client = Callable[..., openai.OpenAI]


@pytest.fixture
def client() -> Iterator[Client]:
    """Makes SDK clients of a gateway (no retries unless asked); closes them afterwards."""
    made: list[openai.OpenAI] = []

    def make(url: str, **options: Any) -> openai.OpenAI:
        options.setdefault("max_retries", 0)
        options.setdefault("timeout", 30)
        options.setdefault("api_key", token(AUDIENCE, USER_SCOPES, subject=SDK_USER))
        sdk = openai.OpenAI(base_url=f"{url}/v1", **options)
        made.append(sdk)
        return sdk

    yield make
    for sdk in made:
        sdk.close()


def test_models_chat_and_streaming_with_usage(
    start_service: Start, eco_env: dict[str, str], client: Client
) -> None:
    sdk = client(start_gateway(start_service, eco_env))
    ids = [m.id for m in sdk.models.list()]
    assert ids[:2] == ["auto", "offline/extractive-1"]
    assert sdk.models.retrieve("offline/extractive-1").owned_by == "offline"

    whole = sdk.chat.completions.create(model="auto", messages=HELLO, seed=7)  # type: ignore[arg-type]
    assert whole.model == "offline/extractive-1"
    assert whole.choices[0].finish_reason == "stop"
    assert "not a language model" in (whole.choices[0].message.content or "")
    assert whole.usage is not None
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
    assert (whole.model_extra or {})["eco"]["provider"] == "offline"

    stream = sdk.chat.completions.create(
        model="auto",
        messages=HELLO,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens == whole.usage.completion_tokens

    stopped = sdk.chat.completions.create(model="auto", messages=HELLO, stop=["not a"])  # type: ignore[arg-type]
    assert "not a" not in (stopped.choices[0].message.content or "")


def test_errors_read_as_openai_errors(
    start_service: Start, eco_env: dict[str, str], client: Client
) -> None:
    url = start_gateway(start_service, eco_env, max_body_bytes="4000")
    sdk = client(url)
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk.chat.completions.create(model="nope/gpt-9", messages=HELLO)  # type: ignore[arg-type]
    assert "nope/gpt-9" in str(unknown.value)
    assert (unknown.value.code, unknown.value.param) == ("model_not_found", "model")
    assert unknown.value.type == "invalid_request_error"
    with pytest.raises(openai.NotFoundError) as missing_model:
        sdk.models.retrieve("ghost/model")
    assert "ghost/model" in str(missing_model.value)

    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    with pytest.raises(openai.BadRequestError) as unsupported:
        sdk.chat.completions.create(model="auto", messages=HELLO, tools=tools)  # type: ignore[arg-type]
    assert (unsupported.value.param, unsupported.value.code) == ("tools", "unsupported_parameter")
    assert "'tools' is not supported by offline" in str(unsupported.value)
    with pytest.raises(openai.BadRequestError) as many:
        sdk.chat.completions.create(model="auto", messages=HELLO, n=2)  # type: ignore[arg-type]
    assert many.value.param == "n"
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(model="auto", messages=HELLO, temperature=5)  # type: ignore[arg-type]
    assert bad.value.param == "temperature"
    assert "temperature" in str(bad.value)

    raw = sdk.chat.completions.with_raw_response.create(
        model="auto",
        messages=HELLO,  # type: ignore[arg-type]
        tools=tools,  # type: ignore[arg-type]
        logprobs=True,
        extra_body={"drop_params": True},
    )
    assert raw.headers["X-Eco-Dropped-Params"] == "logprobs,tools"
    dropped = raw.parse()
    assert dropped.choices[0].finish_reason == "stop"
    assert (dropped.model_extra or {})["eco"]["dropped_params"] == ["logprobs", "tools"]

    # Every /v1 path answers OpenAI's shape, the rest of the service problem+json.
    openai_404 = httpx.get(f"{url}/v1/embeddings-nope", headers=caller_headers(SDK_USER))
    assert openai_404.status_code == 404
    assert openai_404.json()["error"]["type"] == "invalid_request_error"
    problem_404 = httpx.get(f"{url}/nope")
    assert problem_404.headers["content-type"].startswith("application/problem+json")
    too_big = httpx.post(
        f"{url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "x" * 5000}]},
        headers=caller_headers(SDK_USER),
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "request_too_large"


def test_auth_errors_read_as_openai_errors(
    start_service: Start, eco_env: dict[str, str], client: Client
) -> None:
    url = start_gateway(start_service, eco_env)
    for api_key in ("not-a-token", token("doc-store", USER_SCOPES, subject=SDK_USER)):
        with pytest.raises(openai.AuthenticationError) as refused:
            client(url, api_key=api_key).chat.completions.create(model="auto", messages=HELLO)  # type: ignore[arg-type]
        assert refused.value.status_code == 401
        assert refused.value.code == "invalid_api_key"
        assert refused.value.type == "authentication_error"
        assert 'error="invalid_token"' in refused.value.response.headers["www-authenticate"]
        with pytest.raises(openai.AuthenticationError):
            client(url, api_key=api_key).models.list()
    reader = token(AUDIENCE, ("gateway:read",), subject=SDK_USER)
    assert [m.id for m in client(url, api_key=reader).models.list()][0] == "auto"
    with pytest.raises(openai.PermissionDeniedError) as scope:
        client(url, api_key=reader).chat.completions.create(model="auto", messages=HELLO)  # type: ignore[arg-type]
    assert scope.value.code == "insufficient_scope"
    assert "gateway:chat" in str(scope.value)
    challenge = scope.value.response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="gateway:chat"' in challenge


def test_the_sdk_retries_a_rate_limit_after_retry_after(
    start_service: Start, eco_env: dict[str, str], client: Client
) -> None:
    url = start_gateway(
        start_service, eco_env, rate_limit_capacity="1", rate_limit_refill_per_s="1"
    )
    client(url).chat.completions.create(model="auto", messages=HELLO)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError) as limited:
        client(url).chat.completions.create(model="auto", messages=HELLO)  # type: ignore[arg-type]
    assert limited.value.response.headers["retry-after"] == "1"
    assert limited.value.code == "rate_limit_exceeded"
    time.sleep(1.1)
    client(url).chat.completions.create(model="auto", messages=HELLO)  # type: ignore[arg-type]
    # With retries, the SDK waits the Retry-After and the call succeeds.
    answer = client(url, max_retries=3).chat.completions.create(model="auto", messages=HELLO)  # type: ignore[arg-type]
    assert answer.choices[0].message.content
    log = httpx.get(
        f"{url}/v1/usage/log", params={"limit": 3}, headers=caller_headers(SDK_USER)
    ).json()
    assert [e["outcome"] for e in log["entries"]][:2] == ["ok", "rate_limited"]


def test_retries_timeouts_and_stream_errors_against_a_remote_provider(
    start_service: Start, eco_env: dict[str, str], openai_double: ProviderDouble, client: Client
) -> None:
    url = start_gateway(start_service, eco_env, providers=[provider_config(openai_double), OFFLINE])
    model = "openai/gpt-double"
    openai_double.then(Behavior("status", 503))
    answer = client(url, max_retries=2).chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == f"Echo from the double: {HELLO[0]['content']}"
    assert len(openai_double.chat_requests()) == 2  # the gateway's 503 said Retry-After: 1

    openai_double.then(Behavior("status", 503))
    with pytest.raises(openai.InternalServerError) as down:
        client(url).chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
    assert down.value.status_code == 503
    assert "openai" in str(down.value)
    assert down.value.response.headers["retry-after"] == "1"

    openai_double.then(Behavior("slow", delay_s=3.0))
    with pytest.raises(openai.APITimeoutError):
        client(url, timeout=0.5).chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]

    openai_double.then(Behavior("stream_error"))
    stream = client(url).chat.completions.create(model=model, messages=HELLO, stream=True)  # type: ignore[arg-type]
    with stream, pytest.raises(openai.APIError) as broken:
        list(stream)
    assert "failed mid-stream" in str(broken.value)

    # presence_penalty is honoured by the OpenAI provider (passed through), not by offline.
    client(url).chat.completions.create(model=model, messages=HELLO, presence_penalty=0.5)  # type: ignore[arg-type]
    assert openai_double.chat_requests()[-1]["json"]["presence_penalty"] == 0.5
    with pytest.raises(openai.BadRequestError) as offline:
        client(url).chat.completions.create(
            model="offline",
            messages=HELLO,  # type: ignore[arg-type]
            presence_penalty=0.5,
        )
    assert offline.value.param == "presence_penalty"

"""One conformance suite every provider passes: offline in-process, OpenAI and Anthropic
against real HTTP servers that speak their wire protocols."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gateway_doubles import Behavior, ProviderDouble, provider_config

from eco_llm_gateway.protocol import TaskSpec
from eco_llm_gateway.providers import (
    Message,
    Provider,
    ProviderChunk,
    ProviderError,
    ProviderRequest,
    build_provider,
)
from eco_llm_gateway.settings import ProviderConfig
from eco_shared.http import ServiceClient
from eco_shared.testing.auth import MintedTokens

KINDS = ["offline", "openai", "anthropic"]
TEXT = "The doc-store service keeps versions of every document."


@pytest.fixture
async def http() -> AsyncIterator[ServiceClient]:
    async with ServiceClient(service_name="conformance") as client:
        yield client


@pytest.fixture(params=KINDS)
def subject(
    request: pytest.FixtureRequest, http: ServiceClient
) -> tuple[Provider, ProviderDouble | None]:
    kind = request.param
    if kind == "offline":
        config = ProviderConfig(name="offline", kind="offline")
        return build_provider(config, http), None
    double: ProviderDouble = request.getfixturevalue(f"{kind}_double")
    return build_provider(ProviderConfig(**provider_config(double)), http), double


@pytest.fixture(params=["openai", "anthropic"])
def remote(request: pytest.FixtureRequest, http: ServiceClient) -> tuple[Provider, ProviderDouble]:
    double: ProviderDouble = request.getfixturevalue(f"{request.param}_double")
    # generous enough that a loaded 2-core machine answers every scripted reply in time
    config = ProviderConfig(**provider_config(double, timeout_s=3.0))
    return build_provider(config, http), double


def ask(provider: Provider, text: str = TEXT, **kwargs: Any) -> ProviderRequest:
    return ProviderRequest(model=provider.models[0], messages=(Message("user", text),), **kwargs)


def task_request(provider: Provider, spec: dict[str, Any], text: str) -> ProviderRequest:
    return ProviderRequest(
        model=provider.models[0],
        messages=(Message("system", json.dumps(spec)), Message("user", text)),
        task=TaskSpec.model_validate(spec),
        json_mode=True,
    )


async def collect(provider: Provider, request: ProviderRequest) -> list[ProviderChunk]:
    return [chunk async for chunk in provider.stream(request)]


# -- every provider -----------------------------------------------------------------


async def test_chat_answers_with_text_usage_and_finish(
    subject: tuple[Provider, ProviderDouble | None],
) -> None:
    provider, _ = subject
    answer = await provider.chat(ask(provider))
    assert isinstance(answer.content, str)
    assert answer.content.strip()
    assert answer.finish_reason == "stop"
    assert answer.usage.prompt_tokens > 0
    assert answer.usage.completion_tokens > 0
    assert answer.model == provider.models[0]


async def test_stream_adds_up_to_the_same_answer(
    subject: tuple[Provider, ProviderDouble | None],
) -> None:
    provider, _ = subject
    whole = await provider.chat(ask(provider))
    chunks = await collect(provider, ask(provider))
    assert len([c for c in chunks if c.content]) > 1, "an answer of several words streams"
    assert "".join(c.content for c in chunks) == whole.content
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert all(c.finish_reason is None for c in chunks[:-1])


@pytest.mark.parametrize("streamed", [False, True])
async def test_classify_task_answers_json_with_a_given_label(
    subject: tuple[Provider, ProviderDouble | None], streamed: bool
) -> None:
    provider, _ = subject
    spec = {"task": "classify", "labels": ["search_documents", "query_logs", "other"]}
    request = task_request(provider, spec, "show me the error logs of the doc-store")
    if streamed:
        content = "".join(c.content for c in await collect(provider, request))
    else:
        content = (await provider.chat(request)).content
    answer = json.loads(content)
    assert answer["task"] == "classify"
    assert answer["label"] == "query_logs"


async def test_json_mode_without_a_task_still_answers_a_json_object(
    subject: tuple[Provider, ProviderDouble | None],
) -> None:
    provider, double = subject
    answer = await provider.chat(ask(provider, json_mode=True))
    if double is None:
        data = json.loads(answer.content)
        assert data["provider"] == "offline"
        assert "not a language model" in data["note"]
    else:
        # The double's echo is not JSON; what matters is that JSON was asked for on the wire.
        sent = double.chat_requests()[-1]["json"]
        if double.protocol == "openai":
            assert sent["response_format"] == {"type": "json_object"}
        else:
            assert "JSON" in sent["system"]


async def test_max_tokens_cuts_the_answer_with_finish_length(
    subject: tuple[Provider, ProviderDouble | None],
) -> None:
    provider, _ = subject
    full = await provider.chat(ask(provider))
    cut = await provider.chat(ask(provider, max_tokens=3))
    assert cut.finish_reason == "length"
    assert len(cut.content) < len(full.content)
    chunks = await collect(provider, ask(provider, max_tokens=3))
    assert chunks[-1].finish_reason == "length"


async def test_check_passes_when_the_provider_is_up(
    subject: tuple[Provider, ProviderDouble | None],
) -> None:
    provider, double = subject
    await provider.check()
    if double is not None:
        # A pass must come from the provider itself: one authenticated model-list call.
        asked = [r for r in double.requests if r["path"] == "/v1/models"]
        assert len(asked) == 1
        headers = asked[0]["headers"]
        if double.protocol == "openai":
            assert headers["authorization"] == f"Bearer {double.key}"
        else:
            assert headers["x-api-key"] == double.key


async def test_check_fails_when_the_provider_is_down(
    remote: tuple[Provider, ProviderDouble],
) -> None:
    provider, double = remote
    await provider.check()
    double.server.stop()
    with pytest.raises(ProviderError) as caught:
        await provider.check()
    assert caught.value.provider == provider.name
    assert caught.value.kind == "unavailable"
    assert caught.value.fallback


# -- remote providers: the wire and its failures ------------------------------------


async def test_remote_request_carries_credentials_model_and_instruction(
    remote: tuple[Provider, ProviderDouble],
) -> None:
    provider, double = remote
    spec = {"task": "summarize", "max_sentences": 1}
    await provider.chat(task_request(provider, spec, "One. Two sentences here."))
    sent = double.chat_requests()[-1]
    body, headers = sent["json"], sent["headers"]
    assert body["model"] == provider.models[0]
    if double.protocol == "openai":
        assert headers["authorization"] == f"Bearer {double.key}"
        assert body["response_format"] == {"type": "json_object"}
        system = [m["content"] for m in body["messages"] if m["role"] == "system"]
        assert "summarize" in system[0]
        assert "JSON" in system[0]
        assert json.loads(system[1]) == spec  # the caller's own messages are kept
    else:
        assert headers["x-api-key"] == double.key
        assert headers["anthropic-version"] == "2023-06-01"
        assert body["max_tokens"] > 0
        assert "summarize" in body["system"]
        assert json.dumps(spec) in body["system"]
        assert [t["role"] for t in body["messages"]] == ["user"]


@pytest.mark.parametrize("with_key", [True, False])
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_remote_providers_never_see_one_of_our_tokens(
    request: pytest.FixtureRequest, kind: str, with_key: bool
) -> None:
    """The gateway's client holds tokens for every service it calls; a provider is no
    service of ours, so neither its chat, its stream nor its check carries one."""
    double: ProviderDouble = request.getfixturevalue(f"{kind}_double")
    config = provider_config(double, timeout_s=3.0)
    if not with_key:
        config["api_key"] = None  # a local server that wants none (Ollama)
    tokens = MintedTokens()
    async with ServiceClient(service_name="llm-gateway", tokens=tokens) as http:
        provider = build_provider(ProviderConfig(**config), http)
        calls = [provider.chat(ask(provider)), collect(provider, ask(provider)), provider.check()]
        for call in calls:
            if with_key:
                await call
                continue
            with pytest.raises(ProviderError) as refused:  # the double wants its key
                await call
            assert refused.value.kind == "auth"
    assert len(double.requests) == 3
    for sent in double.requests:
        headers = sent["headers"]
        assert "eyJ" not in json.dumps(headers)  # no JWT, for any audience
        if kind == "openai" and with_key:
            assert headers["authorization"] == f"Bearer {double.key}"
        else:
            assert "authorization" not in headers


async def test_remote_stream_asks_for_usage_on_the_wire(
    remote: tuple[Provider, ProviderDouble],
) -> None:
    provider, double = remote
    await collect(provider, ask(provider))
    body = double.chat_requests()[-1]["json"]
    assert body["stream"] is True
    if double.protocol == "openai":
        assert body["stream_options"] == {"include_usage": True}


FAILURES = [
    (Behavior("status", 429, {"retry-after": "7"}), "rate_limited", 429),
    (Behavior("status", 500), "server_error", 500),
    (Behavior("status", 503), "server_error", 503),
    (Behavior("status", 400, message="bad request"), "rejected", 400),
    (Behavior("garbage"), "bad_response", None),
    (Behavior("bad_shape"), "bad_response", None),
    (Behavior("slow", delay_s=10.0), "timeout", None),
]


@pytest.mark.parametrize(
    ("behavior", "kind", "status", "streamed"),
    [(*f, False) for f in FAILURES]
    # A streamed answer has no body shape to get wrong.
    + [(*f, True) for f in FAILURES if f[0].kind != "bad_shape"],
)
async def test_remote_failures_map_to_error_kinds(
    remote: tuple[Provider, ProviderDouble],
    behavior: Behavior,
    kind: str,
    status: int | None,
    streamed: bool,
) -> None:
    provider, double = remote
    double.then(behavior)
    call = collect(provider, ask(provider)) if streamed else provider.chat(ask(provider))
    with pytest.raises(ProviderError) as caught:
        await call
    error = caught.value
    assert error.provider == provider.name
    assert error.kind == kind
    assert error.status == status
    assert error.fallback is (kind != "rejected")
    if kind == "rate_limited":
        assert error.retry_after_s == 7.0
    if behavior.kind == "status":
        assert behavior.message in error.detail  # the provider's error body is read


async def test_remote_overloaded_529_is_a_server_error(
    anthropic_double: ProviderDouble, http: ServiceClient
) -> None:
    provider = build_provider(ProviderConfig(**provider_config(anthropic_double)), http)
    anthropic_double.then(Behavior("status", 529, message="Overloaded"))
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ask(provider))
    assert caught.value.kind == "server_error"
    assert "overloaded_error" in caught.value.detail


async def test_remote_wrong_key_is_auth(
    remote: tuple[Provider, ProviderDouble], http: ServiceClient
) -> None:
    provider, double = remote
    config = ProviderConfig(**{**provider_config(double), "api_key": "sk-wrong-" + "0" * 24})
    wrong = build_provider(config, http)
    with pytest.raises(ProviderError) as caught:
        await wrong.chat(ask(wrong))
    assert caught.value.kind == "auth"
    assert caught.value.status == 401
    with pytest.raises(ProviderError):
        await wrong.check()


async def test_remote_error_mid_stream_raises_after_the_first_chunks(
    remote: tuple[Provider, ProviderDouble],
) -> None:
    provider, double = remote
    double.then(Behavior("stream_error"))
    received: list[str] = []

    async def consume() -> None:
        async for chunk in provider.stream(ask(provider)):
            received.append(chunk.content)

    with pytest.raises(ProviderError) as caught:
        await consume()
    assert "".join(received), "the stream delivered a chunk before the error"
    assert caught.value.kind == "server_error"
    assert "error in the stream" in caught.value.detail


async def test_remote_stream_that_stops_early_is_a_bad_response(
    remote: tuple[Provider, ProviderDouble],
) -> None:
    provider, double = remote
    double.then(Behavior("truncated"))
    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask(provider))
    assert caught.value.kind == "bad_response"


async def test_remote_that_is_down_is_unavailable(
    remote: tuple[Provider, ProviderDouble],
) -> None:
    provider, double = remote
    double.server.stop()
    with pytest.raises(ProviderError) as caught:
        await provider.chat(ask(provider))
    assert caught.value.kind == "unavailable"
    assert caught.value.fallback
    with pytest.raises(ProviderError):
        await provider.check()


async def test_offline_never_claims_to_be_a_language_model(http: ServiceClient) -> None:
    provider = build_provider(ProviderConfig(name="offline", kind="offline"), http)
    answer = await provider.chat(ask(provider, "Write me a poem about Redis streams."))
    assert "not a language model" in answer.content
    assert "offline/extractive-1" in answer.content
    again = await provider.chat(ask(provider, "Write me a poem about Redis streams."))
    assert again.content == answer.content  # deterministic

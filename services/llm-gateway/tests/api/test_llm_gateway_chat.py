"""`POST /v1/chat/completions` end to end: routing, fallback, privacy, cache, limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from gateway_doubles import (
    AUDIENCE,
    OFFLINE,
    Behavior,
    ProviderDouble,
    caller_headers,
    provider_config,
    sse_data,
)

from eco_shared.auth import user_subject
from eco_shared.testing.auth import token

Start = Callable[..., str]
CLASSIFY = {"task": "classify", "labels": ["search_documents", "query_logs", "other"]}


def chat(url: str, *, subject: str = user_subject("tester"), **body: Any) -> httpx.Response:
    body.setdefault("messages", [{"role": "user", "content": "Where are the docs?"}])
    return httpx.post(
        f"{url}/v1/chat/completions", json=body, headers=caller_headers(subject), timeout=20
    )


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem details behind an error in OpenAI's shape (the shape `/v1/*` answers in)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code", "eco"}
    assert error["message"]
    body: dict[str, Any] = error["eco"]
    assert body["status"] == status
    return body


# -- the offline default --------------------------------------------------------------


def test_offline_answers_a_task_and_says_who_it_is(gateway: Start) -> None:
    url = gateway()
    response = chat(
        url,
        messages=[
            {"role": "system", "content": json.dumps(CLASSIFY)},
            {"role": "user", "content": "show the error logs of the doc-store"},
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "offline/extractive-1"
    assert json.loads(body["choices"][0]["message"]["content"])["label"] == "query_logs"
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    assert body["eco"]["provider"] == "offline"
    assert body["eco"]["task"] == "classify"
    assert body["eco"]["caller"] == "user:tester"  # the token's subject
    assert response.headers["X-Eco-Provider"] == "offline"
    assert response.headers["X-Eco-Model"] == "offline/extractive-1"


def test_offline_answers_json_when_asked(gateway: Start) -> None:
    url = gateway()
    response = chat(url, response_format={"type": "json_object"})
    data = json.loads(response.json()["choices"][0]["message"]["content"])
    assert data["provider"] == "offline"
    assert data["model"] == "offline/extractive-1"


def test_gateway_is_usable_by_an_openai_client(gateway: Start) -> None:
    """Our own OpenAI provider (a real OpenAI-protocol client) talks to the gateway."""
    import asyncio

    from eco_llm_gateway.providers import Message, ProviderRequest, build_provider
    from eco_llm_gateway.settings import ProviderConfig
    from eco_shared.http import ServiceClient

    url = gateway()

    async def run() -> tuple[str, str]:
        async with ServiceClient() as http:
            # the gateway's own token as the provider's API key (the SDKs send it as Bearer)
            config = ProviderConfig(
                name="gw",
                kind="openai",
                base_url=f"{url}/v1",
                api_key=token(AUDIENCE, ("gateway:chat", "gateway:read")),
                models=["offline/extractive-1"],
            )
            client = build_provider(config, http)
            request = ProviderRequest(
                model="offline/extractive-1", messages=(Message("user", "hello there"),)
            )
            whole = await client.chat(request)
            streamed = "".join([c.content async for c in client.stream(request)])
            await client.check()
            return whole.content, streamed

    whole, streamed = asyncio.run(run())
    assert "not a language model" in whole
    assert streamed == whole


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "title"),
    [
        ({"messages": []}, 400, "Validation failed"),
        ({"messages": [{"role": "user", "content": "  "}]}, 400, "Empty messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, 400, "Validation failed"),
        ({"model": "nope"}, 404, "Unknown model"),
        ({"model": "offline/gpt-9"}, 404, "Unknown model"),
        ({"model": "ghost/model"}, 404, "Unknown model"),
        ({"max_tokens": 0}, 400, "Validation failed"),
        ({"max_tokens": 100_000}, 400, "max_tokens out of range"),
        ({"temperature": 3}, 400, "Validation failed"),
        ({"n": 2}, 400, "Unsupported parameter"),
        (
            {"tools": [{"type": "function", "function": {"name": "f"}}]},
            400,
            "Unsupported parameter",
        ),
        (
            {"messages": [{"role": "system", "content": '{"task": "classify", "labels": ["x"]}'}]},
            400,
            "Invalid task spec",
        ),
    ],
)
def test_bad_input_is_a_4xx_problem(
    gateway: Start, body: dict[str, Any], status: int, title: str
) -> None:
    url = gateway()
    assert problem(chat(url, **body), status)["title"] == title


def test_an_invalid_task_spec_names_the_field(gateway: Start) -> None:
    url = gateway()
    spec = '{"task": "classify", "labels": ["x"]}'
    body = problem(chat(url, messages=[{"role": "system", "content": spec}]), 400)
    assert body["type"] == "urn:eco:problem:task-spec"
    error = body["errors"][0]
    assert error["loc"][:4] == ["body", "messages", "0", "content"]
    assert error["field"].startswith("messages.0.content")
    assert "two labels" in error["msg"]


def test_max_tokens_over_the_limit_names_the_field(gateway: Start) -> None:
    url = gateway()
    body = problem(chat(url, max_tokens=100_000), 400)
    error = {"loc": ["body", "max_tokens"], "field": "max_tokens", "msg": "out of range"}
    assert body["errors"] == [{**error, "type": "range"}]


def test_prompt_over_the_limit_is_413(gateway: Start) -> None:
    url = gateway(max_prompt_chars=100)
    body = problem(chat(url, messages=[{"role": "user", "content": "x" * 101}]), 413)
    assert body["limit_chars"] == 100


def test_malformed_json_is_400(gateway: Start) -> None:
    url = gateway()
    response = httpx.post(
        f"{url}/v1/chat/completions",
        content=b'{"messages": [',
        headers={"content-type": "application/json", **caller_headers()},
    )
    problem(response, 400)


# -- routing and fallback -------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "outcome"),
    [
        (Behavior("status", 429, {"retry-after": "1"}), "rate_limited"),
        (Behavior("status", 500), "server_error"),
        (Behavior("slow", delay_s=1.0), "timeout"),
        (Behavior("garbage"), "bad_response"),
    ],
)
def test_auto_falls_back_and_says_why(
    gateway: Start,
    openai_double: ProviderDouble,
    anthropic_double: ProviderDouble,
    failure: Behavior,
    outcome: str,
) -> None:
    url = gateway(
        [
            provider_config(openai_double, timeout_s=0.5),
            provider_config(anthropic_double),
            OFFLINE,
        ]
    )
    openai_double.then(failure)
    response = chat(url, model="auto")
    assert response.status_code == 200, response.text
    eco = response.json()["eco"]
    assert eco["provider"] == "anthropic"
    assert [(a["provider"], a["outcome"]) for a in eco["route"]["attempts"]] == [
        ("openai", outcome),
        ("anthropic", "ok"),
    ]
    assert f"fallback from openai ({outcome})" in eco["route"]["reason"]
    assert response.json()["choices"][0]["message"]["content"].startswith("Echo from the double")
    assert len(anthropic_double.chat_requests()) == 1


def test_a_task_answer_that_is_not_json_counts_as_garbage(
    gateway: Start, openai_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double), OFFLINE])
    openai_double.then(Behavior("not_json"))
    response = chat(
        url,
        messages=[
            {"role": "system", "content": json.dumps(CLASSIFY)},
            {"role": "user", "content": "find the docs about redis"},
        ],
    )
    eco = response.json()["eco"]
    assert eco["provider"] == "offline"
    assert eco["route"]["attempts"][0]["outcome"] == "bad_response"
    assert json.loads(response.json()["choices"][0]["message"]["content"])["label"] == (
        "search_documents"
    )


def test_garbage_from_the_only_provider_is_502_naming_it(
    gateway: Start, openai_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double)])
    openai_double.then(Behavior("garbage"))
    body = problem(chat(url, model="auto"), 502)
    assert body["provider"] == "openai"
    assert "openai" in body["detail"]
    assert body["attempts"][0]["outcome"] == "bad_response"


def test_every_provider_down_is_503(
    gateway: Start, openai_double: ProviderDouble, anthropic_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double), provider_config(anthropic_double)])
    openai_double.then(Behavior("status", 503))
    anthropic_double.then(Behavior("status", 529))
    body = problem(chat(url), 503)
    assert [a["provider"] for a in body["attempts"]] == ["openai", "anthropic"]
    assert "Every provider failed" in body["detail"]


def test_an_explicit_model_does_not_fall_back(
    gateway: Start, openai_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double), OFFLINE])
    openai_double.then(Behavior("status", 500))
    body = problem(chat(url, model="openai/gpt-double"), 503)
    assert [a["provider"] for a in body["attempts"]] == ["openai"]


def test_a_rejected_request_is_not_retried_elsewhere(
    gateway: Start, openai_double: ProviderDouble, anthropic_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double), provider_config(anthropic_double)])
    openai_double.then(Behavior("status", 400, message="context too long"))
    body = problem(chat(url), 502)
    assert "context too long" in body["detail"]
    assert anthropic_double.chat_requests() == []


def test_model_names_resolve_to_providers(
    gateway: Start, openai_double: ProviderDouble, anthropic_double: ProviderDouble
) -> None:
    url = gateway([OFFLINE, provider_config(openai_double), provider_config(anthropic_double)])
    assert chat(url, model="claude-double").json()["eco"]["provider"] == "anthropic"
    assert chat(url, model="openai").json()["model"] == "openai/gpt-double"
    assert chat(url, model="auto").json()["eco"]["provider"] == "offline"  # configured first


# -- sensitive content ----------------------------------------------------------------

SECRET_PROMPT = "Summarise: contact jane.doe@example.com, key sk-proj-" + "Zx9" * 8


def test_sensitive_prompts_stay_local_and_findings_come_back(
    gateway: Start, openai_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double), OFFLINE])
    response = chat(url, messages=[{"role": "user", "content": SECRET_PROMPT}])
    assert response.status_code == 200
    eco = response.json()["eco"]
    assert eco["provider"] == "offline"
    assert eco["sensitive"]["detected"] is True
    findings = eco["sensitive"]["findings"]
    assert sorted(f["type"] for f in findings) == ["api_key", "email"]
    email = next(f for f in findings if f["type"] == "email")
    assert SECRET_PROMPT[email["start"] : email["end"]] == "jane.doe@example.com"
    assert "jane.doe" not in json.dumps(eco["sensitive"])
    assert "sensitive content (api_key, email): local providers only" in eco["route"]["reason"]
    assert openai_double.requests == []  # never left the machine


def test_an_explicit_remote_model_is_rerouted_for_sensitive_prompts(
    gateway: Start, openai_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double), OFFLINE])
    response = chat(
        url, model="openai/gpt-double", messages=[{"role": "user", "content": SECRET_PROMPT}]
    )
    eco = response.json()["eco"]
    assert eco["provider"] == "offline"
    assert "openai/gpt-double is not local, so the request was rerouted" in eco["route"]["reason"]
    assert openai_double.requests == []


def test_sensitive_without_a_local_provider_is_refused(
    gateway: Start, openai_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double)])
    body = problem(chat(url, messages=[{"role": "user", "content": SECRET_PROMPT}]), 400)
    assert body["type"] == "urn:eco:problem:sensitive-content"
    assert {f["type"] for f in body["findings"]} == {"api_key", "email"}
    assert "jane.doe" not in json.dumps(body)
    assert openai_double.requests == []


def test_fail_closed_when_every_local_provider_is_down(
    gateway: Start, openai_double: ProviderDouble, anthropic_double: ProviderDouble
) -> None:
    """A local OpenAI-compatible server (think Ollama) is down; the remote one is healthy."""
    local = provider_config(openai_double, name="ollama", local=True)
    url = gateway([local, provider_config(anthropic_double)])
    openai_double.then(Behavior("status", 500))
    body = problem(chat(url, messages=[{"role": "user", "content": SECRET_PROMPT}]), 503)
    assert "Every local provider failed" in body["detail"]
    assert "ollama" in body["detail"]
    assert anthropic_double.requests == []
    # The same request without secrets falls back to the remote provider.
    openai_double.then(Behavior("status", 500))
    assert chat(url).json()["eco"]["provider"] == "anthropic"


# -- cache ----------------------------------------------------------------------------


def test_temperature_zero_is_cached_and_marked(
    gateway: Start, openai_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double)])
    first = chat(url, temperature=0)
    second = chat(
        url, temperature=0, messages=[{"role": "user", "content": "Where are the docs?  "}]
    )
    assert first.headers["X-Eco-Cache"] == "miss"
    assert second.headers["X-Eco-Cache"] == "hit"
    assert second.json()["eco"]["cache_hit"] is True
    assert "cache hit" in second.json()["eco"]["route"]["reason"]
    assert second.json()["choices"] == first.json()["choices"]
    assert len(openai_double.chat_requests()) == 1


@pytest.mark.parametrize(
    ("first", "second", "calls"),
    [
        ({"temperature": 0.7}, {"temperature": 0.7}, 2),  # not deterministic: not cached
        ({"temperature": 0.7, "cache": True}, {"temperature": 0.7, "cache": True}, 1),
        ({"temperature": 0, "cache": False}, {"temperature": 0, "cache": False}, 2),
        ({"temperature": 0}, {"temperature": 0, "max_tokens": 5}, 2),  # another request
    ],
)
def test_cache_rules(
    gateway: Start,
    openai_double: ProviderDouble,
    first: dict[str, Any],
    second: dict[str, Any],
    calls: int,
) -> None:
    url = gateway([provider_config(openai_double)])
    chat(url, **first)
    chat(url, **second)
    assert len(openai_double.chat_requests()) == calls


def test_sensitive_prompts_are_not_cached(gateway: Start) -> None:
    url = gateway()
    messages = [{"role": "user", "content": SECRET_PROMPT}]
    chat(url, temperature=0, messages=messages)
    assert chat(url, temperature=0, messages=messages).headers["X-Eco-Cache"] == "miss"


# -- rate limit -----------------------------------------------------------------------


def test_each_principal_has_a_token_bucket(gateway: Start) -> None:
    url = gateway(rate_limit_capacity=2, rate_limit_refill_per_s=0.1)
    assert chat(url, subject="user:a").status_code == 200
    assert chat(url, subject="user:a").status_code == 200
    limited = chat(url, subject="user:a")
    body = problem(limited, 429)
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    assert body["type"] == "urn:eco:problem:rate-limited"
    assert chat(url, subject="user:b").status_code == 200


# -- streaming ------------------------------------------------------------------------


def stream(url: str, **body: Any) -> tuple[httpx.Response, list[str]]:
    response = chat(url, stream=True, **body)
    return response, sse_data(response.text)


def test_offline_stream_matches_the_whole_answer(gateway: Start) -> None:
    url = gateway()
    whole = chat(url).json()["choices"][0]["message"]["content"]
    response, events = stream(url, stream_options={"include_usage": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["X-Eco-Provider"] == "offline"
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[0]["eco"]["provider"] == "offline"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == whole
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_stream_falls_back_before_the_first_chunk(
    gateway: Start, openai_double: ProviderDouble, anthropic_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double), provider_config(anthropic_double)])
    openai_double.then(Behavior("status", 503))
    response, events = stream(url)
    assert response.headers["X-Eco-Provider"] == "anthropic"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Echo from the double: Where are the docs?"
    assert chunks[0]["eco"]["route"]["attempts"][0]["outcome"] == "server_error"


def test_a_provider_failing_mid_stream_ends_with_an_error_event(
    gateway: Start, openai_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double), OFFLINE])
    openai_double.then(Behavior("stream_error"))
    response, events = stream(url)
    assert response.status_code == 200
    assert "[DONE]" not in events
    error = json.loads(events[-1])["error"]
    assert error["provider"] == "openai"
    assert error["code"] == "server_error"


def test_streams_are_cached_and_replayed(gateway: Start, openai_double: ProviderDouble) -> None:
    url = gateway([provider_config(openai_double)])
    _, first = stream(url, temperature=0)
    response, second = stream(url, temperature=0)
    assert response.headers["X-Eco-Cache"] == "hit"

    def text(events: list[str]) -> str:
        chunks = [json.loads(e) for e in events[:-1]]
        return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)

    assert text(second) == text(first) == "Echo from the double: Where are the docs?"
    assert len(openai_double.chat_requests()) == 1


def test_stream_errors_before_the_first_chunk_are_problems(
    gateway: Start, openai_double: ProviderDouble
) -> None:
    url = gateway([provider_config(openai_double)])
    openai_double.then(Behavior("status", 503))
    body = problem(chat(url, stream=True), 503)
    assert body["provider"] == "openai"

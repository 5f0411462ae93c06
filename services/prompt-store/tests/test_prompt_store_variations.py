"""Variations through a real LLM gateway found through a real discovery: stored unlabelled
with their origin, and every unusable answer (the offline provider's, one that changes the
variables, too few) a 502 that stores nothing.

The gateway serves two providers: its offline one, and a double of a remote OpenAI-style
provider (a real HTTP server speaking the chat-completions wire protocol; remote models are
what cannot exist here). The prompt store asks the gateway with its own token
(`gateway:chat`, granted by discovery's issuer).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI, Request

from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import TestAuth, bearer
from eco_shared.testing.servers import ThreadedServer

TEMPLATE = "Write the API reference of {{ service }} for {{ audience }}."
VARIABLES = {"service": {"type": "string"}, "audience": {"type": "string", "default": "devs"}}
API_KEY = "sk-double-5d41402abc4b2a76"


@dataclass
class ProviderDouble:
    """An OpenAI-style chat-completions server whose next answer the test sets."""

    answer: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> dict[str, Any]:
            body = await request.json()
            assert request.headers.get("authorization") == f"Bearer {API_KEY}"
            self.requests.append(body)
            words = len(self.answer.split())
            return {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": words,
                    "total_tokens": 10 + words,
                },
            }

        return app


@dataclass(frozen=True)
class Ecosystem:
    store_url: str
    double: ProviderDouble


def _wait_passing(discovery: str, names: set[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        listing = httpx.get(f"{discovery}/services", headers=bearer("discovery"), timeout=10)
        passing = {s["name"] for s in listing.json()["services"] if s["status"] == "passing"}
        if names <= passing:
            return
        assert time.monotonic() < deadline, f"not passing in discovery: {names - passing}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def ecosystem(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ecosystem]:
    """Discovery, a gateway (offline + the double) and a prompt store, real processes."""
    data = tmp_path_factory.mktemp("variations")
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    base = {
        "ECO_REDIS_URL": redis_url,
        "ECO_REDIS_PREFIX": prefix,
        "ECO_DATA_DIR": str(data),
        "ECO_ENVIRONMENT": "test",
        "ECO_OTLP_ENDPOINT": "none",
    }
    double = ProviderDouble()
    server = ThreadedServer(double.app()).start()
    procs: list[ServiceProcess] = []

    def start(app: str, port_env: str, **env: str) -> ServiceProcess:
        proc = ServiceProcess(
            app, env={**base, **env}, port_env=port_env, ready_path="/health/ready", log_dir=data
        )
        procs.append(proc)
        return proc.start()

    try:
        discovery = start(
            "eco_discovery.main:create_app",
            "ECO_DISCOVERY_PORT",
            ECO_DISCOVERY_REGISTER_WITH_DISCOVERY="false",
            ECO_DISCOVERY_CHECK_INTERVAL_S="0.5",
        )
        providers = [
            {"name": "offline", "kind": "offline"},
            {
                "name": "double",
                "kind": "openai",
                "base_url": f"{server.url}/v1",
                "api_key": API_KEY,
                "models": ["gpt-double"],
            },
        ]
        start(
            "eco_llm_gateway.main:create_app",
            "ECO_LLM_GATEWAY_PORT",
            ECO_DISCOVERY_URL=discovery.url,
            ECO_LLM_GATEWAY_PROVIDERS=json.dumps(providers),
        )
        store = start(
            "eco_prompt_store.main:create_app",
            "ECO_PROMPT_STORE_PORT",
            ECO_DISCOVERY_URL=discovery.url,
            ECO_PROMPT_STORE_DATABASE_URL=f"sqlite:///{Path(data) / 'prompts.db'}",
        )
        _wait_passing(discovery.url, {"llm-gateway", "prompt-store"})
        yield Ecosystem(store.url, double)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        server.stop()
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
async def client(ecosystem: Ecosystem) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=ecosystem.store_url, timeout=60, auth=TestAuth("prompt-store")
    ) as http:
        yield http


@pytest.fixture
async def prompt(client: httpx.AsyncClient) -> str:
    """A prompt with version 1 of TEMPLATE, labelled `production`."""
    name = f"v-{uuid.uuid4().hex[:12]}"
    assert (await client.post("/prompts", json={"name": name})).status_code == 201
    body = {"template": TEMPLATE, "variables": VARIABLES, "config": {"temperature": 0.2}}
    assert (await client.post(f"/prompts/{name}/versions", json=body)).status_code == 201
    moved = await client.put(
        f"/prompts/{name}/labels/production", json={"version": 1, "expected_version": None}
    )
    assert moved.status_code == 200, moved.text
    return name


async def _versions(client: httpx.AsyncClient, name: str) -> list[int]:
    page = (await client.get(f"/prompts/{name}/versions")).json()
    return [v["version"] for v in page["items"]]


async def test_variations_are_stored_unlabelled_with_their_origin(
    client: httpx.AsyncClient, ecosystem: Ecosystem, prompt: str
) -> None:
    rewrites = [
        "Document every endpoint of {{ service }}; the readers are {{ audience }}.",
        "For {{ audience }}: a precise API reference of {{ service }}.",
    ]
    ecosystem.double.answer = json.dumps({"variations": rewrites})
    asked = len(ecosystem.double.requests)
    made = await client.post(
        f"/prompts/{prompt}/versions/1/variations",
        json={"count": 2, "instruction": "shorter", "model": "double"},
    )
    assert made.status_code == 201, made.text
    items = made.json()["items"]
    assert [v["template"] for v in items] == rewrites
    original = (await client.get(f"/prompts/{prompt}/versions/1")).json()
    for version in items:
        assert version["origin"] == {
            "kind": "variation",
            "of_version": 1,
            "model": "double/gpt-double",
        }
        assert version["labels"] == []  # never labelled by itself, `latest` included
        assert version["sha256"] == hashlib.sha256(version["template"].encode()).hexdigest()
        assert (version["variables"], version["config"]) == (
            original["variables"],
            {"temperature": 0.2},
        )
        assert version["author"] == "user:test"
    assert sorted(v["version"] for v in items) == [2, 3]
    info = (await client.get(f"/prompts/{prompt}")).json()
    assert info["labels"] == {"latest": 1, "production": 1}
    # what the model was asked: the template, its variables, JSON of `count` rewrites
    [request] = ecosystem.double.requests[asked:]
    system = " ".join(m["content"] for m in request["messages"] if m["role"] == "system")
    assert [m for m in request["messages"] if m["role"] == "user"] == [
        {"role": "user", "content": TEMPLATE}
    ]
    assert "exactly 2" in system
    assert "audience, service" in system
    assert "shorter" in system
    assert request["response_format"] == {"type": "json_object"}


async def test_the_offline_providers_answer_is_unusable_and_nothing_is_stored(
    client: httpx.AsyncClient, prompt: str
) -> None:
    refused = await client.post(
        f"/prompts/{prompt}/versions/1/variations", json={"count": 1, "model": "offline"}
    )
    assert refused.status_code == 502, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "variations" in refused.json()["detail"]
    assert await _versions(client, prompt) == [1]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"variations": ["Write the API reference of {{ service }}."]}, "changes the variables"),
        ({"variations": ["About {{ service }} for {{ audience }} and {{ extra }}."]}, "changes"),
        ({"variations": ["Docs for {{ service }} and {{ audience }}."]}, "not 2"),
        ({"variations": [TEMPLATE, "Docs for {{ service }} and {{ audience }}."]}, "repeats"),
        ({"variations": ["Broken {{ service", "Docs {{ service }} {{ audience }}"]}, "variation 0"),
        ({"rewrites": ["x"]}, "no `variations`"),
        ({"variations": [7, "Docs {{ service }} {{ audience }}"]}, "not a template"),
    ],
    ids=["drops", "adds", "too-few", "repeats", "syntax", "no-key", "not-text"],
)
async def test_unusable_answers_are_a_502_and_store_nothing(
    client: httpx.AsyncClient,
    ecosystem: Ecosystem,
    prompt: str,
    answer: dict[str, Any],
    why: str,
) -> None:
    ecosystem.double.answer = json.dumps(answer)
    count = 1 if why == "changes the variables" or why == "changes" else 2
    refused = await client.post(
        f"/prompts/{prompt}/versions/1/variations", json={"count": count, "model": "double"}
    )
    assert refused.status_code == 502, refused.text
    assert why in refused.json()["detail"]
    assert await _versions(client, prompt) == [1]


async def test_bad_variation_requests(
    client: httpx.AsyncClient, ecosystem: Ecosystem, prompt: str
) -> None:
    url = f"/prompts/{prompt}/versions"
    assert (await client.post(f"{url}/9/variations", json={"count": 1})).status_code == 404
    assert (await client.post(f"{url}/1/variations", json={"count": 6})).status_code == 422
    unknown = await client.post(f"{url}/1/variations", json={"model": "double/gpt-9"})
    assert unknown.status_code == 404  # the gateway knows no such model
    reader = bearer("prompt-store", ["prompts:read"])
    async with httpx.AsyncClient(base_url=ecosystem.store_url, headers=reader) as read_only:
        assert (await read_only.post(f"{url}/1/variations", json={"count": 1})).status_code == 403
    assert await _versions(client, prompt) == [1]

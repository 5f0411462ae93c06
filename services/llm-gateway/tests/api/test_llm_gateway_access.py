"""Who may call the gateway, and what each principal may spend: scopes on every route,
rate limits, token budgets and model allowlists by principal (from the token, never a
header), and the cache kept per principal."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openai
import pytest
import redis
from gateway_doubles import (
    AUDIENCE,
    OFFLINE,
    IssuerDouble,
    ProviderDouble,
    caller_headers,
    provider_config,
)

from eco_shared.auth import mint, new_signing_key, user_subject
from eco_shared.testing.auth import session_material, token

Start = Callable[..., str]
ALICE, BOB = user_subject("alice"), user_subject("bob")
HELLO = [{"role": "user", "content": "Where are the docs?"}]
OPERATOR = ("gateway:read:all",)


def chat(url: str, headers: dict[str, str], **body: Any) -> httpx.Response:
    body.setdefault("messages", HELLO)
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=20)


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The OpenAI error object of a `/v1/*` answer."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["eco"]["status"] == status
    return body


def usage_log(url: str) -> list[dict[str, Any]]:
    headers = caller_headers("user:ops", OPERATOR)
    response = httpx.get(f"{url}/v1/usage/log", headers=headers, params={"limit": 1000})
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


# -- no token, a foreign token, a missing scope ---------------------------------------


def _requests(url: str) -> list[tuple[str, str, dict[str, Any]]]:
    """One valid request for every protected operation the OpenAPI document lists."""
    spec = httpx.get(f"{url}/openapi.json").json()
    made = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if operation.get("x-eco-public"):
                continue
            concrete = path.replace("{model}", "offline/extractive-1")
            kwargs: dict[str, Any] = {"json": {"messages": HELLO}} if method == "post" else {}
            made.append((method.upper(), concrete, kwargs))
    return made


def test_no_token_or_a_foreign_one_is_never_2xx_and_changes_nothing(
    gateway: Start, openai_double: ProviderDouble, redis_url: str, redis_prefix: str
) -> None:
    url = gateway([provider_config(openai_double), OFFLINE])
    requests = _requests(url)
    assert len(requests) == 6  # chat, models (2), providers, usage, usage log
    session_key = session_material().signing_keys().current
    expired = mint(
        session_key, subject=ALICE, audience=AUDIENCE, scopes={"admin"}, now=time.time() - 900
    )
    foreign = mint(new_signing_key(), subject=ALICE, audience=AUDIENCE, scopes={"admin"})
    credentials: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {token('doc-store')}"},  # an admin's, for another service
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {foreign}"},
        {"X-Eco-Caller": "orchestrator"},  # what used to be trusted
    ]
    for method, path, kwargs in requests:
        for headers in credentials:
            response = httpx.request(method, f"{url}{path}", headers=headers, timeout=20, **kwargs)
            body = error(response, 401)
            assert (body["type"], body["code"]) == ("authentication_error", "invalid_api_key")
            assert body["eco"]["type"] == "urn:eco:problem:invalid-token"
            challenge = response.headers["WWW-Authenticate"]
            assert challenge.startswith("Bearer ")
            assert 'error="invalid_token"' in challenge
    store = redis.Redis.from_url(redis_url)
    pattern = f"{redis_prefix}llm-gateway:*"
    assert list(store.scan_iter(match=pattern)) == []  # no bucket, cache or usage: nothing
    assert openai_double.requests == []
    assert chat(url, caller_headers()).status_code == 200  # the same request with a token
    assert list(store.scan_iter(match=pattern)) != []


@pytest.mark.parametrize(
    ("method", "path", "scopes", "missing"),
    [
        ("POST", "/v1/chat/completions", ("gateway:read",), "gateway:chat"),
        ("GET", "/v1/models", ("gateway:chat",), "gateway:read"),
        ("GET", "/v1/providers", ("gateway:chat",), "gateway:read"),
        ("GET", "/v1/usage", ("gateway:chat",), "gateway:read"),
        ("GET", "/v1/usage/log", ("docs:read",), "gateway:read"),
    ],
)
def test_a_token_without_the_routes_scope_is_403_naming_it(
    gateway: Start, method: str, path: str, scopes: tuple[str, ...], missing: str
) -> None:
    url = gateway()
    kwargs: dict[str, Any] = {"json": {"messages": HELLO}} if method == "POST" else {}
    headers = caller_headers(ALICE, scopes)
    response = httpx.request(method, f"{url}{path}", headers=headers, timeout=20, **kwargs)
    body = error(response, 403)
    assert (body["type"], body["code"]) == ("permission_error", "insufficient_scope")
    assert body["eco"]["missing_scopes"] == [missing]
    assert f'scope="{missing}"' in response.headers["WWW-Authenticate"]
    assert usage_log(url) == []


# -- rate limits ----------------------------------------------------------------------


def test_rate_limits_are_per_principal_and_a_header_changes_nothing(gateway: Start) -> None:
    url = gateway(rate_limit_capacity=2, rate_limit_refill_per_s=0.01)
    alice = caller_headers(ALICE)
    assert chat(url, alice).status_code == 200
    assert chat(url, alice).status_code == 200
    forged = chat(url, {**alice, "X-Eco-Caller": "bob"})
    body = error(forged, 429)
    assert body["code"] == "rate_limit_exceeded"
    assert ALICE in body["message"]
    assert int(forged.headers["Retry-After"]) >= 50  # one token per 100 s
    assert chat(url, caller_headers(BOB)).status_code == 200
    # a service acting for alice spends alice's bucket
    delegated = caller_headers(ALICE, act={"sub": "spiffe://eco.local/service/orchestrator"})
    assert chat(url, delegated).status_code == 429
    log = usage_log(url)
    assert [(e["caller"], e["status"]) for e in log] == [
        (ALICE, 429),
        (BOB, 200),
        (ALICE, 429),
        (ALICE, 200),
        (ALICE, 200),
    ]


def test_a_keys_rpm_replaces_the_default_limit(gateway: Start) -> None:
    url = gateway(rate_limit_capacity=100, rate_limit_refill_per_s=0.01)
    limited = caller_headers(ALICE, limits={"rpm": 2})
    assert chat(url, limited).status_code == 200
    assert chat(url, limited).status_code == 200
    refused = chat(url, limited)
    error(refused, 429)
    assert 25 <= int(refused.headers["Retry-After"]) <= 30  # 2 a minute: one every 30 s
    assert chat(url, caller_headers(BOB, limits={"rpm": 2})).status_code == 200
    assert chat(url, caller_headers(ALICE)).status_code == 200  # without the key's limit
    nothing = caller_headers(BOB, limits={"rpm": 0})
    assert error(chat(url, nothing), 429)["code"] == "rate_limit_exceeded"


# -- budgets --------------------------------------------------------------------------


def _tokens(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    total: int = response.json()["usage"]["total_tokens"]
    return total


def _until_tomorrow() -> float:
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


def test_a_spent_budget_is_429_until_the_window_ends(gateway: Start) -> None:
    url = gateway(budget_period="day")
    # what one answer costs (offline answers are deterministic), as someone unlimited
    cost = _tokens(chat(url, caller_headers("user:probe")))
    budget = cost + cost // 2
    alice = caller_headers(ALICE, limits={"budget_tokens": budget})
    assert _tokens(chat(url, alice, temperature=0)) == cost
    again = chat(url, alice, temperature=0)
    assert again.headers["X-Eco-Cache"] == "hit"  # a cache hit spends nothing
    other = [{"role": "user", "content": "Where are the docs? Tell me twice."}]
    assert chat(url, alice, messages=other).status_code == 200  # under budget when it began
    spent = chat(url, {**alice, "X-Eco-Caller": "bob"})
    body = error(spent, 429)
    assert (body["type"], body["code"]) == ("insufficient_quota", "insufficient_quota")
    assert body["eco"]["budget_tokens"] == budget
    assert body["eco"]["spent_tokens"] > budget
    assert abs(int(spent.headers["Retry-After"]) - _until_tomorrow()) < 30
    assert spent.headers["x-should-retry"] == "false"
    assert chat(url, caller_headers(BOB, limits={"budget_tokens": budget})).status_code == 200
    assert [e["outcome"] for e in usage_log(url)][:2] == ["ok", "over_budget"]


def test_budgets_are_per_api_key(gateway: Start, issuer: IssuerDouble) -> None:
    url = gateway(auth_issuer=issuer.url)
    first = caller_headers(ALICE, key="k1", limits={"budget_tokens": 1})
    second = caller_headers(ALICE, key="k2", limits={"budget_tokens": 1})
    assert chat(url, first).status_code == 200
    assert error(chat(url, first), 429)["code"] == "insufficient_quota"
    assert chat(url, second).status_code == 200  # the same user, another key
    assert {"k1", "k2"} <= set(issuer.introspected)  # both keys were checked with the issuer
    entries = usage_log(url)
    assert [(e["caller"], e["key_id"]) for e in entries] == [
        (ALICE, "k2"),
        (ALICE, "k1"),
        (ALICE, "k1"),
    ]
    issuer.revoked.add("k3")
    revoked = caller_headers(ALICE, key="k3", limits={"budget_tokens": 10**6})
    assert error(chat(url, revoked), 401)["code"] == "invalid_api_key"


def test_the_sdk_does_not_retry_a_spent_budget(gateway: Start) -> None:
    url = gateway()
    key = token(AUDIENCE, ("gateway:chat",), subject=ALICE, limits={"budget_tokens": 1})
    with openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=3) as sdk:
        sdk.chat.completions.create(model="auto", messages=HELLO)  # type: ignore[arg-type]
        with pytest.raises(openai.RateLimitError) as spent:
            sdk.chat.completions.create(model="auto", messages=HELLO)  # type: ignore[arg-type]
    assert spent.value.code == "insufficient_quota"
    assert [e["outcome"] for e in usage_log(url)] == ["over_budget", "ok"]  # asked once


# -- model allowlist ------------------------------------------------------------------


def test_a_keys_model_allowlist(gateway: Start, openai_double: ProviderDouble) -> None:
    url = gateway([provider_config(openai_double), OFFLINE])
    offline_only = caller_headers(ALICE, limits={"models": ["offline"]})
    body = error(chat(url, offline_only, model="openai/gpt-double"), 403)
    assert (body["code"], body["param"]) == ("model_not_allowed", "model")
    assert "it allows offline" in body["message"]
    assert body["eco"]["allowed_models"] == ["offline"]
    routed = chat(url, offline_only, model="auto").json()["eco"]
    assert routed["provider"] == "offline"
    assert "the API key allows offline/extractive-1" in routed["route"]["reason"]
    assert openai_double.requests == []
    listed = httpx.get(f"{url}/v1/models", headers=offline_only).json()["data"]
    assert [m["id"] for m in listed] == ["auto", "offline/extractive-1"]
    card = httpx.get(f"{url}/v1/models/openai/gpt-double", headers=offline_only)
    assert error(card, 403)["code"] == "model_not_allowed"
    # by model name or provider/model too; another principal is not limited by alice's key
    by_label = caller_headers(ALICE, limits={"models": ["openai/gpt-double"]})
    assert chat(url, by_label, model="gpt-double").json()["eco"]["provider"] == "openai"
    assert error(chat(url, by_label, model="offline"), 403)["code"] == "model_not_allowed"
    nothing = caller_headers(ALICE, limits={"models": []})
    assert "allows no model" in error(chat(url, nothing), 403)["message"]
    assert chat(url, caller_headers(BOB), model="openai").json()["eco"]["provider"] == "openai"
    outcomes = [(e["caller"], e["outcome"]) for e in usage_log(url)]
    assert outcomes.count((ALICE, "model_not_allowed")) == 3


def test_a_sensitive_prompt_reroutes_only_to_allowed_local_models(
    gateway: Start, openai_double: ProviderDouble
) -> None:
    local = provider_config(openai_double, name="ollama", local=True)
    url = gateway([provider_config(openai_double), local, OFFLINE])
    secret = [{"role": "user", "content": "mail jane.doe@example.com the report"}]
    remote_only = caller_headers(ALICE, limits={"models": ["openai", "offline"]})
    answer = chat(url, remote_only, model="openai/gpt-double", messages=secret).json()["eco"]
    assert answer["provider"] == "offline"  # not the local ollama the key does not allow
    assert openai_double.requests == []


def test_the_cache_is_kept_per_principal(gateway: Start, openai_double: ProviderDouble) -> None:
    url = gateway([provider_config(openai_double)])
    assert chat(url, caller_headers(ALICE), temperature=0).headers["X-Eco-Cache"] == "miss"
    assert chat(url, caller_headers(BOB), temperature=0).headers["X-Eco-Cache"] == "miss"
    assert chat(url, caller_headers(ALICE), temperature=0).headers["X-Eco-Cache"] == "hit"
    assert len(openai_double.chat_requests()) == 2

"""Who may call the log collector: every route needs a token for it holding the route's scope.

No token, a token for another service, a forged or expired one is 401; a valid token without
the scope is 403 naming it; the right scope is served. A refused token also lands in the
audit trail (the app factory publishes `auth.denied`, the collector stores it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eco_log_collector.main import build_app
from eco_log_collector.settings import LogCollectorSettings
from eco_shared.adapters.log_collector import LogCollectorAdapter
from eco_shared.auth import ADMIN, SigningKey, mint, new_signing_key, user_subject
from eco_shared.http import ServiceClient
from eco_shared.testing.auth import MintedTokens, bearer, session_material, token
from eco_shared.testing.servers import ThreadedServer

TRACE = "ab" * 16
SPAN = "cd" * 8
ROUTES: dict[tuple[str, str], str] = {
    ("get", "/logs"): "logs:read",
    ("get", "/logs/tail"): "logs:read",
    ("get", "/events"): "logs:read",
    ("get", "/traces"): "logs:read",
    ("get", "/traces/{trace_id}"): "logs:read",
    ("get", "/spans/{span_id}"): "logs:read",
    ("get", "/stats"): "logs:read",
    ("get", "/stats/operations"): "logs:read",
    ("get", "/dependencies"): "logs:read",
    ("get", "/ingest-errors"): "logs:read",
    ("post", "/v1/traces"): "logs:write",
    ("get", "/audit"): "audit:read",
    ("get", "/audit/verify"): "audit:read",
}
PUBLIC = {("get", "/health"), ("get", "/health/ready"), ("get", "/metrics")}
# the scope catalogue (DESIGN.md "Identity and access"), `admin` aside
CATALOGUE = (
    "discovery:read discovery:register:log-collector auth:keys auth:introspect docs:read"
    " docs:write docs:read:all runs:create runs:read runs:write runs:read:all gateway:chat"
    " gateway:read gateway:read:all logs:read logs:write audit:read prompts:read prompts:write"
).split()


@pytest.fixture(scope="module")
def collector(
    redis_url: str,
    module_prefix: str,
    module_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """An in-process collector (its own Redis prefix and database, per backend)."""
    settings = LogCollectorSettings(
        redis_url=redis_url,
        redis_prefix=module_prefix,
        data_dir=Path(tmp_path_factory.mktemp("auth")),
        database_url=module_database_url,
        register_with_discovery=False,
        otlp_endpoint="none",
        block_ms=100,
    )
    server = ThreadedServer(build_app(settings, configure_process=False)).start(timeout_s=60)
    try:
        yield server.url
    finally:
        server.stop()


def _call(url: str, method: str, path: str, headers: dict[str, str]) -> int:
    """The status of one call; a stream (the live tail) is closed once its status is known."""
    target = url + path.replace("{trace_id}", TRACE).replace("{span_id}", SPAN)
    if method == "post":
        body = {"resourceSpans": []}
        return httpx.post(target, json=body, headers=headers, timeout=10).status_code
    with httpx.stream("GET", target, headers=headers, timeout=10) as response:
        return response.status_code


def test_every_route_declares_its_scope(collector: str) -> None:
    spec = httpx.get(f"{collector}/openapi.json", timeout=10).json()
    seen: set[tuple[str, str]] = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            seen.add((method, path))
            if (method, path) in PUBLIC:
                assert operation["x-eco-public"] is True
                continue
            scope = ROUTES[(method, path)]
            assert operation["x-eco-scopes"] == [scope], (method, path)
            assert operation["security"] == [{"bearer": [scope]}]
    # a route added without a line here fails: its scope must be decided, not inherited
    assert seen == set(ROUTES) | PUBLIC


def _admin_token(key: SigningKey, *, now: float | None = None) -> dict[str, str]:
    value = mint(
        key, subject=user_subject("test"), audience="log-collector", scopes={ADMIN}, now=now
    )
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_no_valid_token_is_never_served(collector: str, method: str, path: str) -> None:
    ours = session_material().signing_keys().current
    refusals = {
        "no token": {},
        "another service's token": bearer("doc-store"),
        "not a token": {"Authorization": "Bearer not-a-jwt"},
        "a forged signature": {"Authorization": f"Bearer {token('log-collector')[:-4]}AAAA"},
        "a key the issuer never published": _admin_token(new_signing_key()),
        "an expired token": _admin_token(ours, now=time.time() - 600),
        "basic credentials": {"Authorization": "Basic dXNlcjpwYXNz"},
    }
    for why, headers in refusals.items():
        status = _call(collector, method, path, headers)
        assert status == 401, (why, status)


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_the_route_scope_decides(collector: str, method: str, path: str) -> None:
    scope = ROUTES[(method, path)]
    others = [s for s in CATALOGUE if s != scope]
    response_status = _call(collector, method, path, bearer("log-collector", others))
    assert response_status == 403
    if method == "get" and path != "/logs/tail":
        refused = httpx.get(
            collector + path.replace("{trace_id}", TRACE).replace("{span_id}", SPAN),
            headers=bearer("log-collector", others),
            timeout=10,
        )
        assert refused.json()["missing_scopes"] == [scope]
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    # exactly the scope is enough (a trace or span nobody stored is a 404, past the gate)
    allowed = _call(collector, method, path, bearer("log-collector", [scope]))
    assert allowed == (404 if path in ("/traces/{trace_id}", "/spans/{span_id}") else 200)
    assert _call(collector, method, path, bearer("log-collector", [ADMIN])) == allowed


async def test_a_refused_token_is_in_the_audit_trail(collector: str) -> None:
    wrong = httpx.get(f"{collector}/stats", headers=bearer("doc-store"), timeout=10)
    assert wrong.status_code == 401
    async with ServiceClient(service_name="test", tokens=MintedTokens()) as http:
        adapter = LogCollectorAdapter(http, base_url=collector)
        denied: list[Any] = []
        for _ in range(100):
            page = await adapter.audit(type="auth.denied")
            denied = [e for e in page.items if e.data.get("path") == "/stats"]
            if denied:
                break
            await asyncio.sleep(0.1)
        assert denied, "the refusal never reached the audit trail"
        record = denied[0]
        assert record.source == "log-collector"
        assert record.data["reason"] == "invalid_token"
        assert "not meant for log-collector" in record.data["detail"]
        assert (await adapter.verify_audit()).ok

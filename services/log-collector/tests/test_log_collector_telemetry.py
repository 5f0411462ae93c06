"""Span export: the log collector through discovery with the service's own tokens, or
configured OTLP targets, which never see a token of ours."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from eco_shared.auth import TokenError, service_subject
from eco_shared.auth._sync import SyncServiceTokens
from eco_shared.redis_server import free_port
from eco_shared.telemetry import (
    LOG_COLLECTOR,
    DiscoveredCollectorExporter,
    export_targets,
    span_exporters,
)
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth, bearer, session_material, token

AUTH = TestAuth("log-collector")
COLLECTOR_INSTANCE = "log-collector-telemetry"


class MintedSyncTokens:
    """A service's own tokens, minted with the session's keys (as the issuer would)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.asked: list[str] = []

    def token_for(self, audience: str) -> str:
        self.asked.append(audience)
        scopes = ["discovery:read", "logs:write"]
        return token(audience, scopes, subject=service_subject(self.service))

    def forget(self, audience: str) -> None:
        """Nothing is cached."""


class OtlpReceiver(ThreadingHTTPServer):
    """A plain OTLP/HTTP receiver outside the ecosystem (a Jaeger): records what it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append((self.path, dict(self.headers.items())))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _export_one(exporter: Any, service: str) -> str:
    """Export one span through `exporter`; return its trace id."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        with provider.get_tracer("t").start_as_current_span("exported") as span:
            pass
        return format(span.get_span_context().trace_id, "032x")
    finally:
        provider.shutdown()


def test_export_targets_default_to_the_log_collector() -> None:
    assert export_targets(None) == [LOG_COLLECTOR]
    assert export_targets("") == [LOG_COLLECTOR]
    assert export_targets("http://jaeger:4318") == ["http://jaeger:4318"]
    assert export_targets("log-collector, http://jaeger:4318") == [
        LOG_COLLECTOR,
        "http://jaeger:4318",
    ]
    assert export_targets("none") == []


def test_without_discovery_spans_are_dropped_quickly_and_looked_up_again_later() -> None:
    exporter = DiscoveredCollectorExporter(
        f"http://127.0.0.1:{free_port()}", retry_after_s=0.2, lookup_timeout_s=0.5
    )
    started = time.perf_counter()
    assert exporter.export([]) is SpanExportResult.FAILURE
    assert exporter.export([]) is SpanExportResult.FAILURE  # cached miss, no second lookup
    assert time.perf_counter() - started < 2
    assert exporter.endpoint() is None
    exporter.shutdown()


def test_a_plain_otlp_endpoint_never_gets_our_token(receiver: OtlpReceiver) -> None:
    tokens = MintedSyncTokens("example")
    exporters = span_exporters(
        [LOG_COLLECTOR, receiver.url], discovery_url="http://127.0.0.1:1", tokens=tokens
    )
    collector, plain = exporters
    # the log collector's exporter holds the service's tokens; the plain one does not
    assert isinstance(collector, DiscoveredCollectorExporter)
    assert collector.tokens is tokens
    assert isinstance(plain, OTLPSpanExporter)
    _export_one(plain, "example")
    [(path, headers)] = receiver.requests
    assert path == "/v1/traces"
    assert "authorization" not in {name.lower() for name in headers}
    assert tokens.asked == []


def test_spans_reach_the_collector_with_the_services_own_tokens(
    start_service: Callable[..., ServiceProcess],
    start_collector: Callable[..., ServiceProcess],
    eco_env: dict[str, str],
    lc: Any,
) -> None:
    discovery = start_service(
        "eco_discovery.main:create_app",
        env={
            **eco_env,
            "ECO_DISCOVERY_REGISTER_WITH_DISCOVERY": "false",
            "ECO_DISCOVERY_CHECK_INTERVAL_S": "0.5",
            "ECO_OTLP_ENDPOINT": "none",
        },
        port_env="ECO_DISCOVERY_PORT",
    )
    collector = start_collector(
        ECO_DISCOVERY_URL=discovery.url,
        ECO_LOG_COLLECTOR_REGISTER_WITH_DISCOVERY="true",
        ECO_LOG_COLLECTOR_INSTANCE_ID=COLLECTOR_INSTANCE,
    )

    def listed() -> bool:
        response = httpx.get(
            f"{discovery.url}/services/log-collector",
            params={"healthy": "true"},
            headers=bearer("discovery", ["discovery:read"]),
            timeout=5,
        )
        return response.status_code == 200 and bool(response.json()["instances"])

    wait_until(listed, timeout_s=30, interval_s=0.2)

    # without tokens, discovery will not even say where the collector is
    anonymous = DiscoveredCollectorExporter(discovery.url)
    assert anonymous.endpoint() is None

    secret = session_material().client_secret("log-collector")
    assert secret is not None
    tokens = SyncServiceTokens(
        discovery.url, "log-collector", secret, instance_id=COLLECTOR_INSTANCE
    )
    own = tokens.token_for("log-collector")
    assert tokens.token_for("log-collector") == own  # cached
    claims = jwt.decode(own, options={"verify_signature": False})
    assert claims["aud"] == "log-collector"
    assert claims["sub"] == service_subject("log-collector")
    assert "logs:write" in claims["scope"].split()
    tokens.forget("log-collector")
    assert tokens.token_for("log-collector") != own

    exporter = DiscoveredCollectorExporter(discovery.url, tokens=tokens)
    assert exporter.endpoint() == f"{collector.url}/v1/traces"
    service = lc.unique("exported")
    trace_id = _export_one(exporter, service)
    detail = httpx.get(f"{collector.url}/traces/{trace_id}", auth=AUTH, timeout=10).json()
    assert [s["service"] for s in detail["roots"]] == [service]


def test_a_wrong_secret_is_refused_and_not_retried_at_once(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str]
) -> None:
    discovery = start_service(
        "eco_discovery.main:create_app",
        env={**eco_env, "ECO_DISCOVERY_REGISTER_WITH_DISCOVERY": "false"},
        port_env="ECO_DISCOVERY_PORT",
    )
    wrong = os.urandom(16).hex()
    tokens = SyncServiceTokens(discovery.url, "log-collector", wrong, retry_after_s=30)
    with pytest.raises(TokenError) as refused:
        tokens.token_for("discovery")
    assert (refused.value.status, refused.value.error) == (401, "invalid_client")
    assert wrong not in str(refused.value)
    assert wrong not in repr(tokens)
    # the same refusal, without asking the issuer again (it is stopped now)
    discovery.terminate()
    with pytest.raises(TokenError) as again:
        tokens.token_for("discovery")
    assert again.value is refused.value

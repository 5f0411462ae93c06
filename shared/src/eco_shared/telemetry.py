"""OpenTelemetry set-up in one call, and W3C `traceparent` helpers for the event bus.

Spans reach the log collector over OTLP/HTTP with the service's own bearer tokens: one for
`discovery` (to look the collector up) and one for `log-collector` (its `/v1/traces` needs
`logs:write`), from a synchronous token source (`eco_shared.auth._sync.SyncServiceTokens`),
since the exporter runs in the batch processor's thread. A plain OTLP endpoint outside the
ecosystem (`ECO_OTLP_ENDPOINT=http://...`) never gets a token.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    import requests
    from fastapi.telemetry import TelemetryConfig

_logger = logging.getLogger(__name__)
_propagator = TraceContextTextMapPropagator()
_instrumented: set[str] = set()


LOG_COLLECTOR = "log-collector"
_NO_EXPORT = frozenset(("none", "off", "false", "disabled"))


def export_targets(otlp_endpoint: str | None) -> list[str]:
    """Where spans go: `log-collector` (found through discovery) and/or OTLP/HTTP URLs.

    Unset means the log collector. A comma-separated list sends to each (`log-collector,
    http://jaeger:4318`); `none` turns export off.
    """
    if otlp_endpoint is None or not otlp_endpoint.strip():
        return [LOG_COLLECTOR]
    targets = [t.strip() for t in otlp_endpoint.split(",") if t.strip()]
    if any(t.lower() in _NO_EXPORT for t in targets):
        return []
    return targets


def _traces_url(endpoint: str) -> str:
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


class TokenSource(Protocol):
    """A service's own tokens, synchronously (`SyncServiceTokens`)."""

    def token_for(self, audience: str) -> str: ...

    def forget(self, audience: str) -> None: ...


def _bearer_session(tokens: TokenSource, audience: str) -> requests.Session:
    """A requests session adding a token for `audience` to each request; a 401 drops it."""
    import requests

    class _Bearer(requests.auth.AuthBase):
        def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
            request.headers["Authorization"] = f"Bearer {tokens.token_for(audience)}"
            request.register_hook("response", self.refused)
            return request

        @staticmethod
        def refused(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
            if response.status_code == 401:
                tokens.forget(audience)

    session = requests.Session()
    session.auth = _Bearer()
    session.trust_env = False  # no .netrc credentials, no proxy of the environment
    return session


class DiscoveredCollectorExporter(SpanExporter):
    """OTLP/HTTP export to the log collector, resolved lazily through discovery.

    The collector's URL is looked up at the first export (not at start-up, when discovery
    or the collector may not be up yet), cached for `cache_ttl_s`, and looked up again
    after a failed export. While no collector is registered, batches are dropped. With
    `tokens`, the lookup carries a token for discovery and the export one for the collector;
    while no token can be had, batches are dropped too.
    """

    def __init__(
        self,
        discovery_url: str,
        *,
        service: str = LOG_COLLECTOR,
        tokens: TokenSource | None = None,
        cache_ttl_s: float = 30.0,
        retry_after_s: float = 5.0,
        lookup_timeout_s: float = 2.0,
        export_timeout_s: float = 5.0,
    ) -> None:
        self.discovery_url = discovery_url.rstrip("/")
        self.service = service
        self.tokens = tokens
        self.cache_ttl_s = cache_ttl_s
        self.retry_after_s = retry_after_s
        self.lookup_timeout_s = lookup_timeout_s
        self.export_timeout_s = export_timeout_s
        self._lock = threading.Lock()
        self._endpoint: str | None = None
        self._checked_at = -math.inf
        self._exporters: dict[str, SpanExporter] = {}
        self._missing_logged = False
        self._token_failure_logged = False

    def _headers(self, audience: str) -> dict[str, str]:
        if self.tokens is None:
            return {}
        return {"Authorization": f"Bearer {self.tokens.token_for(audience)}"}

    def _lookup(self) -> str | None:
        url = f"{self.discovery_url}/services/{self.service}?healthy=true"
        request = urllib.request.Request(url, headers=self._headers("discovery"))
        # urllib is not instrumented: the lookup must not make spans of its own
        try:
            with urllib.request.urlopen(request, timeout=self.lookup_timeout_s) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and self.tokens is not None:
                self.tokens.forget("discovery")
            raise
        instances = (body.get("instances") if isinstance(body, dict) else None) or []
        urls = [str(i["base_url"]) for i in instances if isinstance(i, dict) and i.get("base_url")]
        return _traces_url(random.choice(urls)) if urls else None

    def endpoint(self) -> str | None:
        """The collector's `/v1/traces` URL, or None while none can be found."""
        with self._lock:
            age = time.monotonic() - self._checked_at
            if age < (self.cache_ttl_s if self._endpoint else self.retry_after_s):
                return self._endpoint
            try:
                self._endpoint = self._lookup()
            except Exception as exc:  # away, refused, or no token: spans wait for the next try
                self._endpoint = None
                reason = f"{type(exc).__name__}: {exc}"
            else:
                reason = "not registered"
            self._checked_at = time.monotonic()
            if self._endpoint is None and not self._missing_logged:
                _logger.info("span export: no %s in discovery (%s)", self.service, reason)
            self._missing_logged = self._endpoint is None
            return self._endpoint

    def _has_token(self) -> bool:
        """Whether a token for the collector can be had now (cached: the export reuses it)."""
        if self.tokens is None:
            return True
        try:
            self.tokens.token_for(self.service)
        except Exception as exc:
            if not self._token_failure_logged:
                _logger.info("span export: no token for %s (%s)", self.service, exc)
            self._token_failure_logged = True
            return False
        self._token_failure_logged = False
        return True

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        endpoint = self.endpoint()
        if endpoint is None or not self._has_token():
            return SpanExportResult.FAILURE
        exporter = self._exporters.get(endpoint)
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            session = (
                _bearer_session(self.tokens, self.service) if self.tokens is not None else None
            )
            exporter = OTLPSpanExporter(
                endpoint=endpoint, timeout=self.export_timeout_s, session=session
            )
            self._exporters[endpoint] = exporter
        result = exporter.export(spans)
        if result is not SpanExportResult.SUCCESS:
            with self._lock:
                self._checked_at = -math.inf  # the collector may have moved
        return result

    def shutdown(self) -> None:
        for exporter in self._exporters.values():
            exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_exporters(
    targets: Sequence[str],
    *,
    discovery_url: str | None = None,
    tokens: TokenSource | None = None,
) -> list[SpanExporter]:
    """One exporter per target: the log collector (through discovery, with `tokens`) or a
    plain OTLP/HTTP URL (never with our tokens: it is outside the ecosystem)."""
    exporters: list[SpanExporter] = []
    for target in targets:
        if target == LOG_COLLECTOR:
            if discovery_url is not None:
                exporters.append(DiscoveredCollectorExporter(discovery_url, tokens=tokens))
            continue
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporters.append(OTLPSpanExporter(endpoint=_traces_url(target)))
    return exporters


def setup_telemetry(
    service_name: str,
    *,
    service_version: str = "0.1.0",
    instance_id: str | None = None,
    otlp_endpoint: str | None = None,
    discovery_url: str | None = None,
    tokens: TokenSource | None = None,
    extra_processors: list[SpanProcessor] | None = None,
) -> TracerProvider:
    """Install a tracer provider for this process and instrument httpx and redis.

    Spans go over OTLP/HTTP to each target of `export_targets(otlp_endpoint)`: by default
    the log collector, found through discovery at `discovery_url` (without one, the
    default means no export) and sent with the service's own `tokens`; URLs get
    `/v1/traces` appended and no token. Calling it again (several apps in one test
    process) reuses the installed provider and only adds processors.
    """
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        provider = current
    else:
        attributes: dict[str, Any] = {SERVICE_NAME: service_name, SERVICE_VERSION: service_version}
        if instance_id:
            attributes[SERVICE_INSTANCE_ID] = instance_id
        provider = TracerProvider(resource=Resource.create(attributes))
        trace.set_tracer_provider(provider)
        exporters = span_exporters(
            export_targets(otlp_endpoint), discovery_url=discovery_url, tokens=tokens
        )
        for exporter in exporters:
            provider.add_span_processor(BatchSpanProcessor(exporter))
    for processor in extra_processors or []:
        provider.add_span_processor(processor)
    instrument_libraries()
    return provider


def instrument_libraries() -> None:
    """Instrument httpx and redis once per process (server spans: `eco_shared.serving`)."""
    if "httpx" not in _instrumented:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument()
        _instrumented.add("httpx")
    if "redis" not in _instrumented:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor().instrument()
        _instrumented.add("redis")


def fastapi_telemetry() -> TelemetryConfig:
    """`FastAPI(telemetry=...)`: FastAPI's own telemetry off.

    The server span of each request is made by `eco_shared.serving.ServingMiddleware`
    (cheaper than FastAPI's, measured in process: docs/PERFORMANCE.md); metrics and logs are
    ours (Prometheus, structlog).
    """
    return {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def inject_traceparent(
    carrier: MutableMapping[str, str] | None = None, context: Context | None = None
) -> MutableMapping[str, str]:
    """Write the current (or given) span context into `carrier` as W3C `traceparent`."""
    carrier = {} if carrier is None else carrier
    _propagator.inject(carrier, context=context)
    return carrier


def extract_context(carrier: Mapping[str, str]) -> Context:
    """Return a context whose parent is the span named by `carrier["traceparent"]`."""
    return _propagator.extract(carrier)


def current_trace_ids() -> tuple[str | None, str | None]:
    """Hex trace id and span id of the current span, or (None, None) outside a trace."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")

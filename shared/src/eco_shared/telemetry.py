"""OpenTelemetry set-up in one call, and W3C `traceparent` helpers for the event bus."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_instrumented: set[str] = set()


def setup_telemetry(
    service_name: str,
    *,
    service_version: str = "0.1.0",
    instance_id: str | None = None,
    otlp_endpoint: str | None = None,
    extra_processors: list[SpanProcessor] | None = None,
) -> TracerProvider:
    """Install a tracer provider for this process and instrument httpx and redis.

    Spans are exported over OTLP/HTTP to `otlp_endpoint` (`/v1/traces` is appended) when it
    is set. Calling it again (several apps in one test process) reuses the installed
    provider and only adds processors.
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
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            endpoint = otlp_endpoint.rstrip("/")
            if not endpoint.endswith("/v1/traces"):
                endpoint += "/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    for processor in extra_processors or []:
        provider.add_span_processor(processor)
    instrument_libraries()
    return provider


def instrument_libraries() -> None:
    """Instrument httpx and redis once per process (FastAPI is instrumented per app)."""
    if "httpx" not in _instrumented:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument()
        _instrumented.add("httpx")
    if "redis" not in _instrumented:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor().instrument()
        _instrumented.add("redis")


def instrument_app(app: Any) -> None:
    """Instrument one FastAPI app (server spans joined to incoming `traceparent`)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="health,health/ready,metrics")


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


def global_inject(headers: MutableMapping[str, str]) -> None:
    """Inject with the globally configured propagator (HTTP headers)."""
    propagate.inject(headers)

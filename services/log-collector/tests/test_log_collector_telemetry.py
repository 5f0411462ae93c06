"""Default span export: the log collector through discovery, or configured targets."""

from __future__ import annotations

import time

from opentelemetry.sdk.trace.export import SpanExportResult

from eco_shared.redis_server import free_port
from eco_shared.telemetry import LOG_COLLECTOR, DiscoveredCollectorExporter, export_targets


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

"""The log collector's logic: ingestion, queries and traces, the live tail, retention, and
the audit trail.

Routes and the lifespan work with one `LogCollector`; its parts call the repositories,
never Redis or SQL themselves.
"""

from eco_log_collector.service._audit import (
    AUDIT_HEAD_KEY,
    AUDIT_STREAM,
    GENESIS,
    AuditTrail,
    canonical,
    link_hash,
)
from eco_log_collector.service._collector import LogCollector
from eco_log_collector.service._ingest import Ingestor
from eco_log_collector.service._queries import CURSOR_PATTERN, Queries, level_filter
from eco_log_collector.service._retention import Retention
from eco_log_collector.service._spans import PERCENTILE_SAMPLE, SpanStats, percentile
from eco_log_collector.service._tail import LiveTail, TailFilter
from eco_log_collector.service._traces import MAX_TRACE_ITEMS, Traces, build_trace
from eco_log_collector.service._views import event_out, ingest_error_out, log_out, span_out

__all__ = [
    "AUDIT_HEAD_KEY",
    "AUDIT_STREAM",
    "CURSOR_PATTERN",
    "GENESIS",
    "MAX_TRACE_ITEMS",
    "PERCENTILE_SAMPLE",
    "AuditTrail",
    "Ingestor",
    "LiveTail",
    "LogCollector",
    "Queries",
    "Retention",
    "SpanStats",
    "TailFilter",
    "Traces",
    "build_trace",
    "canonical",
    "event_out",
    "ingest_error_out",
    "level_filter",
    "link_hash",
    "log_out",
    "percentile",
    "span_out",
]

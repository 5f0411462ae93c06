"""`LogCollector`: the service object the routes and the lifespan work with."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_log_collector.repository import (
    AuditRepository,
    LogRepository,
    SpanRepository,
    StreamRepository,
)
from eco_log_collector.service._audit import AUDIT_HEAD_KEY, AUDIT_STREAM, AuditTrail
from eco_log_collector.service._ingest import Ingestor
from eco_log_collector.service._queries import Queries
from eco_log_collector.service._retention import Retention
from eco_log_collector.service._spans import SpanStats
from eco_log_collector.service._tail import LiveTail
from eco_log_collector.service._traces import Traces
from eco_log_collector.settings import LogCollectorSettings
from eco_shared.bus import EVENTS, LOGS
from eco_shared.logship import DROPPED_KEY


@dataclass(frozen=True, slots=True)
class LogCollector:
    """Ingestion, queries, traces, the live tail, retention and the audit trail, over one
    database and Redis."""

    ingest: Ingestor
    queries: Queries
    traces: Traces
    span_stats: SpanStats
    tail: LiveTail
    retention: Retention
    audit: AuditTrail

    @classmethod
    def create(
        cls, engine: AsyncEngine, redis: aioredis.Redis, settings: LogCollectorSettings
    ) -> LogCollector:
        """Wire the parts on the lifespan's engine and Redis client."""
        repo = LogRepository(engine)
        streams = StreamRepository(redis)
        spans = SpanRepository(engine)
        return cls(
            ingest=Ingestor(repo, max_otlp_decompressed_bytes=settings.max_otlp_decompressed_bytes),
            queries=Queries(
                repo,
                streams,
                max_page_size=settings.max_page_size,
                stream_keys={
                    LOGS: settings.key(LOGS),
                    EVENTS: settings.key(EVENTS),
                    AUDIT_STREAM: settings.key(AUDIT_STREAM),
                },
                dropped_key=settings.key(DROPPED_KEY),
                group=settings.consumer_group,
            ),
            traces=Traces(repo, spans, max_page_size=settings.max_page_size),
            span_stats=SpanStats(spans),
            tail=LiveTail(
                streams,
                settings.key(LOGS),
                max_clients=settings.max_tail_clients,
                block_ms=settings.tail_block_ms,
            ),
            retention=Retention(
                repo,
                retention_days=settings.retention_days,
                batch_size=settings.retention_batch_size,
                interval_s=settings.retention_interval_s,
            ),
            audit=AuditTrail(
                AuditRepository(engine),
                streams,
                head_key=settings.key(AUDIT_HEAD_KEY),
                max_page_size=settings.max_page_size,
            ),
        )

"""Figures over many traces' spans: per-operation statistics and the service graph.

Both are SQL aggregations over the spans that started in the window (SQLite or
PostgreSQL). Counts, errors and maxima are exact; a percentile needs the durations
themselves, so p50/p95 are over each operation's newest `percentile_sample` spans of the
window (nearest rank), which bounds what one answer reads to operations × sample rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from eco_log_collector.models import (
    Dependencies,
    DependencyEdge,
    OperationStats,
    OperationStatsList,
)
from eco_log_collector.records import clean_text, from_us, nanos
from eco_log_collector.repository import SpanRepository

PERCENTILE_SAMPLE = 1000
MAX_OPERATIONS = 500
MAX_EDGES = 1000


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank `p`th percentile (0 < p <= 100) of `values` (0.0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class SpanStats:
    """Per-operation statistics and service dependencies over a window."""

    def __init__(self, spans: SpanRepository, *, percentile_sample: int = PERCENTILE_SAMPLE):
        self.spans = spans
        self.percentile_sample = percentile_sample

    async def operations(
        self, *, since_us: int, until_us: int, service: str | None = None
    ) -> OperationStatsList:
        """Span count, errors and p50/p95/max per (service, operation), busiest first."""
        since_ns, until_ns = nanos(since_us), nanos(until_us)
        name = clean_text(service, 200) if service else None
        rows = await self.spans.operations(since_ns, until_ns, name, MAX_OPERATIONS)
        truncated = len(rows) > MAX_OPERATIONS
        rows = rows[:MAX_OPERATIONS]
        durations = (
            await self.spans.durations(since_ns, until_ns, name, self.percentile_sample)
            if rows
            else {}
        )
        items = []
        for row in rows:
            sample = durations.get((row.service, row.operation), [])
            items.append(
                OperationStats(
                    service=row.service,
                    operation=row.operation,
                    span_count=row.span_count,
                    error_count=row.error_count,
                    p50_ms=percentile(sample, 50),
                    p95_ms=percentile(sample, 95),
                    max_ms=row.max_ms,
                    sampled=len(sample),
                )
            )
        return OperationStatsList(
            since=from_us(since_us),
            until=from_us(until_us),
            items=items,
            percentile_sample=self.percentile_sample,
            truncated=truncated,
        )

    async def dependencies(self, *, since_us: int, until_us: int) -> Dependencies:
        """Service → service edges: child spans whose parent span is another service's."""
        rows = await self.spans.dependencies(nanos(since_us), nanos(until_us), MAX_EDGES)
        edges = [
            DependencyEdge(
                parent=r.parent, child=r.child, call_count=r.call_count, error_count=r.error_count
            )
            for r in rows
        ]
        return Dependencies(
            since=from_us(since_us),
            until=from_us(until_us),
            services=sorted({e.parent for e in edges} | {e.child for e in edges}),
            edges=edges,
        )

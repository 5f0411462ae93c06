"""Traces: one trace as a span tree with its logs and events, and the recent-traces list."""

from __future__ import annotations

from eco_log_collector.models import (
    SpanOut,
    SpanRef,
    TimelineItem,
    TraceDetail,
    TraceList,
    TraceSummary,
)
from eco_log_collector.records import clean_text, from_ns, nanos
from eco_log_collector.repository import (
    LogRepository,
    SpanRepository,
    TraceListRow,
    TraceQuery,
    TraceRows,
)
from eco_log_collector.service._views import event_out, log_out, span_out
from eco_shared.pagination import cut_page, decode_cursor
from eco_shared.problems import NotFound

MAX_TRACE_ITEMS = 10_000


def _tree(spans: list[SpanOut]) -> list[SpanOut]:
    """Link spans to their parents (children by start time); return the roots."""
    nodes = {span.span_id: span for span in spans}
    roots: list[SpanOut] = []
    for node in nodes.values():
        parent = nodes.get(node.parent_span_id or "")
        if parent is not None and parent is not node:
            parent.children.append(node)
        else:
            roots.append(node)
    # a parent cycle (only from a broken client) would hide its spans; show them as roots
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        seen.add(node.span_id)
        stack.extend(node.children)
    for span_id, node in nodes.items():
        if span_id not in seen:
            node.children = [c for c in node.children if c.span_id not in seen]
            roots.append(node)
            stack = [node]
            while stack:
                item = stack.pop()
                seen.add(item.span_id)
                stack.extend(c for c in item.children if c.span_id not in seen)
    for node in nodes.values():
        node.children.sort(key=lambda s: s.start)
    roots.sort(key=lambda s: s.start)
    return roots


def build_trace(trace_id: str, rows: TraceRows) -> TraceDetail:
    """The span tree (children by start time) with logs and events on one timeline."""
    spans = [span_out(row) for row in rows.spans]
    roots = _tree(spans)
    logs = [log_out(row) for row in rows.logs]
    events = [event_out(row) for row in rows.events]
    timeline = [
        TimelineItem(kind="span", time=s.start, service=s.service, span_id=s.span_id, name=s.name)
        for s in spans
    ]
    timeline += [
        TimelineItem(
            kind="log",
            time=r.time,
            service=r.service,
            span_id=r.span_id,
            name=r.message,
            level=r.level,
        )
        for r in logs
    ]
    timeline += [
        TimelineItem(kind="event", time=e.time, service=e.source, span_id=e.span_id, name=e.type)
        for e in events
    ]
    timeline.sort(key=lambda item: item.time)
    start = min((s.start for s in spans), default=None)
    end = max((s.end for s in spans), default=None)
    services = sorted({s.service for s in spans} | {r.service for r in logs})
    return TraceDetail(
        trace_id=trace_id,
        services=services,
        span_count=len(spans),
        start=start,
        end=end,
        duration_ms=(end - start).total_seconds() * 1000 if start and end else None,
        roots=roots,
        logs=logs,
        events=events,
        timeline=timeline,
    )


def _text(value: str | None) -> str | None:
    return clean_text(value, 200) if value else None


def _position(row: TraceListRow) -> tuple[int, str]:
    return row.start_ns, row.trace_id


class Traces:
    """Reads of the stored spans."""

    def __init__(self, repo: LogRepository, spans: SpanRepository, *, max_page_size: int) -> None:
        self.repo = repo
        self.spans = spans
        self.max_page_size = max_page_size

    async def get(self, trace_id: str) -> TraceDetail:
        """One trace; `NotFound` when nothing at all is stored for it."""
        trace_id = trace_id.lower()
        rows = await self.repo.trace(trace_id, MAX_TRACE_ITEMS)
        if not (rows.spans or rows.logs or rows.events):
            raise NotFound("Trace", trace_id, f"Nothing is stored for trace {trace_id}.")
        return build_trace(trace_id, rows)

    async def span(self, span_id: str) -> SpanRef:
        """The trace that holds `span_id`; `NotFound` when no stored trace does."""
        span_id = span_id.lower()
        row = await self.spans.span(span_id)
        if row is None:
            raise NotFound("Span", span_id, f"No stored trace holds span {span_id}.")
        return SpanRef.model_validate(span_out(row), from_attributes=True)

    async def recent(
        self,
        *,
        service: str | None = None,
        operation: str | None = None,
        errors: bool = False,
        since_us: int | None = None,
        until_us: int | None = None,
        min_duration_ms: float | None = None,
        max_duration_ms: float | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TraceList:
        """Traces newest first (by their first span) with their services and root span."""
        limit = min(limit, self.max_page_size)
        after = decode_cursor(cursor, int, str) if cursor else None
        listing = await self.repo.traces(
            TraceQuery(
                service=_text(service),
                operation=_text(operation),
                errors=errors,
                since_ns=nanos(since_us) if since_us is not None else None,
                until_ns=nanos(until_us) if until_us is not None else None,
                min_duration_ms=min_duration_ms,
                max_duration_ms=max_duration_ms,
                limit=limit,
                after=(int(after[0]), str(after[1])) if after else None,
            )
        )
        rows, next_cursor = cut_page(listing.rows, limit, _position)
        items = []
        for row in rows:
            root = listing.roots.get(row.trace_id)
            items.append(
                TraceSummary(
                    trace_id=row.trace_id,
                    root_service=root["service"] if root else None,
                    root_name=root["name"] if root else None,
                    services=listing.services.get(row.trace_id, []),
                    span_count=row.span_count,
                    error_count=row.error_count,
                    start=from_ns(row.start_ns),
                    duration_ms=(row.end_ns - row.start_ns) / 1_000_000,
                )
            )
        return TraceList(items=items, next_cursor=next_cursor)

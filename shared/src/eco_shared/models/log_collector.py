"""Wire models of the log collector: what its query routes answer with.

The collector builds its responses from these classes and
`eco_shared.adapters.log_collector` reads them back with them, so the two cannot drift.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from eco_shared.pagination import Page

Level = Literal["debug", "info", "warning", "error", "critical"]
SpanKindName = Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
StatusName = Literal["unset", "ok", "error"]


class LogRecordOut(BaseModel):
    """One log record (`id` is None in the live tail, before it is stored)."""

    id: int | None = None
    event_id: str
    time: datetime
    service: str
    level: str
    message: str
    logger: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    request_id: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class LogPage(Page[LogRecordOut]):
    """A page of log records, newest first; pass `next_cursor` back for the next page."""


class EventOut(BaseModel):
    """One stored domain event (a CloudEvents envelope from `eco.events`)."""

    id: int
    event_id: str
    type: str
    source: str
    time: datetime
    trace_id: str | None = None
    span_id: str | None = None
    entry_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class EventPage(Page[EventOut]):
    """A page of events, newest first."""


class SpanOut(BaseModel):
    """One span of a trace, with its children when part of a tree."""

    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    service: str
    name: str
    kind: SpanKindName
    start: datetime
    end: datetime
    duration_ms: float
    status_code: StatusName = "unset"
    status_message: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)
    children: list[SpanOut] = Field(default_factory=list)


class TimelineItem(BaseModel):
    """A span start, a log record or an event of a trace, in time order."""

    kind: Literal["span", "log", "event"]
    time: datetime
    service: str
    span_id: str | None = None
    name: str
    level: str | None = None


class TraceDetail(BaseModel):
    """A whole trace: the span tree, and its logs and events interleaved in time order."""

    trace_id: str
    services: list[str]
    span_count: int
    start: datetime | None = None
    end: datetime | None = None
    duration_ms: float | None = None
    roots: list[SpanOut]
    logs: list[LogRecordOut]
    events: list[EventOut]
    timeline: list[TimelineItem]


class TraceSummary(BaseModel):
    """One line of the trace list."""

    trace_id: str
    root_service: str | None = None
    root_name: str | None = None
    services: list[str]
    span_count: int
    error_count: int
    start: datetime
    duration_ms: float


class TraceList(Page[TraceSummary]):
    """Traces, newest first; pass `next_cursor` back as `cursor` for older ones."""


class SpanRef(BaseModel):
    """Where a span is stored: its trace, and the span itself in brief."""

    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    service: str
    name: str
    kind: SpanKindName
    start: datetime
    duration_ms: float
    status_code: StatusName = "unset"


class OperationStats(BaseModel):
    """Spans of one (service, operation) in a window: how many, how many failed, how long."""

    service: str
    operation: str
    span_count: int
    error_count: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    sampled: int = Field(description="Newest spans the percentiles were computed over.")


class OperationStatsList(BaseModel):
    """Per (service, operation) statistics over [since, until)."""

    since: datetime
    until: datetime
    items: list[OperationStats]
    percentile_sample: int = Field(
        description="At most this many of each operation's newest spans give its percentiles."
    )
    truncated: bool = Field(description="More operations than the answer holds.")


class DependencyEdge(BaseModel):
    """Calls from one service to another: child spans whose parent is another service's."""

    parent: str
    child: str
    call_count: int
    error_count: int


class Dependencies(BaseModel):
    """The service graph of the spans that started in [since, until)."""

    since: datetime
    until: datetime
    services: list[str]
    edges: list[DependencyEdge]


class StreamLag(BaseModel):
    """How far the collector's consumer group is behind on one stream."""

    stream: str
    length: int
    pending: int
    undelivered: int
    lag: int


class Stats(BaseModel):
    """Counts over a window, ingest lag and dropped records."""

    since: datetime
    until: datetime
    logs_by_service: dict[str, dict[str, int]]
    logs_in_window: int
    totals: dict[str, int]
    streams: list[StreamLag]
    dropped_records: int
    dropped_by_instance: dict[str, int]


class IngestErrorOut(BaseModel):
    """A stream entry the collector could not store as a record, with the reason."""

    id: int
    event_id: str
    stream: str
    entry_id: str | None = None
    source: str | None = None
    reason: str
    time: datetime
    raw: dict[str, Any] = Field(default_factory=dict)


class IngestErrorPage(Page[IngestErrorOut]):
    """A page of ingest errors, newest first."""


class AuditEventOut(BaseModel):
    """One security-relevant event of `eco.audit`, as appended to the hash chain."""

    seq: int
    event_id: str
    time: datetime
    type: str
    source: str
    subject: str | None = None
    actor: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str


class AuditPage(Page[AuditEventOut]):
    """A page of the audit trail, newest first."""


class AuditVerification(BaseModel):
    """Whether the stored audit trail is whole: no record changed, removed or reordered."""

    ok: bool
    checked: int = Field(description="Records that verified before the first problem (all).")
    first_bad_seq: int | None = None
    reason: str | None = None

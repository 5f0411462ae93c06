"""Typed client of the log collector, and the wire models its API answers with.

The service builds its responses from these same models, so the adapter and the service
cannot disagree on a field; `check_adapter_against_openapi` holds the paths, parameters and
response fields. The pages are `eco_shared.pagination.Page` with their item type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from eco_shared.adapters._base import AdapterError, BaseServiceAdapter, operation
from eco_shared.pagination import Page
from eco_shared.sse import aiter_sse

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


class TraceList(BaseModel):
    """Recent traces, newest first."""

    items: list[TraceSummary]


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


def _params(**values: Any) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in values.items()
        if v is not None
    }


class LogCollectorAdapter(BaseServiceAdapter):
    """The log collector: logs, events, traces and stats of the whole ecosystem."""

    service_name = "log-collector"

    @operation(
        "GET",
        "/logs",
        query=("service", "level", "trace_id", "q", "since", "until", "limit", "cursor"),
        response=LogPage,
    )
    async def logs(
        self,
        *,
        service: str | None = None,
        level: Level | None = None,
        trace_id: str | None = None,
        q: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> LogPage:
        """Log records, newest first, at or above `level`."""
        params = _params(
            service=service,
            level=level,
            trace_id=trace_id,
            q=q,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
        response = await self._request("GET", "/logs", operation="logs", params=params)
        return LogPage.model_validate(response.json())

    @operation(
        "GET",
        "/events",
        query=("type", "source", "trace_id", "since", "until", "limit", "cursor"),
        response=EventPage,
    )
    async def events(
        self,
        *,
        type: str | None = None,
        source: str | None = None,
        trace_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> EventPage:
        """Domain events, newest first."""
        params = _params(
            type=type,
            source=source,
            trace_id=trace_id,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
        response = await self._request("GET", "/events", operation="events", params=params)
        return EventPage.model_validate(response.json())

    @operation("GET", "/traces/{trace_id}", response=TraceDetail)
    async def trace(self, trace_id: str) -> TraceDetail | None:
        """One trace's span tree with its logs and events; None when nothing is stored."""
        try:
            response = await self._request(
                "GET", "/traces/{trace_id}", operation="trace", path_params={"trace_id": trace_id}
            )
        except AdapterError as exc:
            if exc.status == 404:
                return None
            raise
        return TraceDetail.model_validate(response.json())

    @operation(
        "GET",
        "/traces",
        query=("service", "since", "min_duration_ms", "limit"),
        response=TraceList,
    )
    async def traces(
        self,
        *,
        service: str | None = None,
        since: datetime | str | None = None,
        min_duration_ms: float | None = None,
        limit: int | None = None,
    ) -> TraceList:
        """Recent traces, newest first."""
        params = _params(service=service, since=since, min_duration_ms=min_duration_ms, limit=limit)
        response = await self._request("GET", "/traces", operation="traces", params=params)
        return TraceList.model_validate(response.json())

    @operation("GET", "/stats", query=("since", "until"), response=Stats)
    async def stats(
        self, *, since: datetime | str | None = None, until: datetime | str | None = None
    ) -> Stats:
        """Counts by service and level over a window, ingest lag, dropped records."""
        params = _params(since=since, until=until)
        response = await self._request("GET", "/stats", operation="stats", params=params)
        return Stats.model_validate(response.json())

    @operation("GET", "/ingest-errors", query=("limit", "cursor"), response=IngestErrorPage)
    async def ingest_errors(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> IngestErrorPage:
        """Stream entries stored as parse errors (unknown level, missing message, ...)."""
        params = _params(limit=limit, cursor=cursor)
        response = await self._request(
            "GET", "/ingest-errors", operation="ingest_errors", params=params
        )
        return IngestErrorPage.model_validate(response.json())

    @operation(
        "GET",
        "/audit",
        query=("type", "subject", "since", "until", "limit", "cursor"),
        response=AuditPage,
    )
    async def audit(
        self,
        *,
        type: str | None = None,
        subject: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AuditPage:
        """The audit trail, newest first; `subject` matches the subject or the actor."""
        params = _params(
            type=type, subject=subject, since=since, until=until, limit=limit, cursor=cursor
        )
        response = await self._request("GET", "/audit", operation="audit", params=params)
        return AuditPage.model_validate(response.json())

    @operation("GET", "/audit/verify", response=AuditVerification)
    async def verify_audit(self) -> AuditVerification:
        """Check the whole hash chain of the audit trail."""
        response = await self._request("GET", "/audit/verify", operation="verify_audit")
        return AuditVerification.model_validate(response.json())

    @operation("GET", "/logs/tail", query=("service", "level"))
    async def tail(
        self, *, service: str | None = None, level: Level | None = None
    ) -> AsyncIterator[LogRecordOut]:
        """Follow new log records as they are published (server-sent events)."""
        url = await self.base_url() + "/logs/tail"
        response = await self.http.request(
            "GET",
            url,
            service=self.service_name,
            operation="tail",
            params=_params(service=service, level=level),
            stream=True,
            timeout=None,
        )
        try:
            if response.status_code != 200:
                await response.aread()
                raise AdapterError(self.service_name, response.status_code, _problem(response))
            async for event in aiter_sse(response.aiter_lines()):
                if event.event == "log":
                    yield LogRecordOut.model_validate(event.json())
        finally:
            await response.aclose()


def _problem(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:500]}
    return body if isinstance(body, dict) else {"detail": body}

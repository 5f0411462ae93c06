"""Typed client of the log collector; its wire models live in
`eco_shared.models.log_collector` (re-exported here, where callers have always found them).

The service builds its responses from these same models, so the adapter and the service
cannot disagree on a field; `check_adapter_against_openapi` holds the paths, parameters and
response fields. The pages are `eco_shared.pagination.Page` with their item type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from eco_shared.adapters._base import AdapterError, BaseServiceAdapter, operation
from eco_shared.models.log_collector import (
    AuditEventOut,
    AuditPage,
    AuditVerification,
    Dependencies,
    DependencyEdge,
    EventOut,
    EventPage,
    IngestErrorOut,
    IngestErrorPage,
    Level,
    LogPage,
    LogRecordOut,
    OperationStats,
    OperationStatsList,
    SpanKindName,
    SpanOut,
    SpanRef,
    Stats,
    StatusName,
    StreamLag,
    TimelineItem,
    TraceDetail,
    TraceList,
    TraceSummary,
)
from eco_shared.sse import aiter_sse

__all__ = [
    "AuditEventOut",
    "AuditPage",
    "AuditVerification",
    "Dependencies",
    "DependencyEdge",
    "EventOut",
    "EventPage",
    "IngestErrorOut",
    "IngestErrorPage",
    "Level",
    "LogCollectorAdapter",
    "LogPage",
    "LogRecordOut",
    "OperationStats",
    "OperationStatsList",
    "SpanKindName",
    "SpanOut",
    "SpanRef",
    "Stats",
    "StatusName",
    "StreamLag",
    "TimelineItem",
    "TraceDetail",
    "TraceList",
    "TraceSummary",
]


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
        query=(
            "service",
            "operation",
            "errors",
            "since",
            "until",
            "min_duration_ms",
            "max_duration_ms",
            "limit",
            "cursor",
        ),
        response=TraceList,
    )
    async def traces(
        self,
        *,
        service: str | None = None,
        operation: str | None = None,
        errors: bool | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        min_duration_ms: float | None = None,
        max_duration_ms: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> TraceList:
        """Traces, newest first; `service` and `operation` name one of their spans."""
        params = _params(
            service=service,
            operation=operation,
            errors="true" if errors else None,
            since=since,
            until=until,
            min_duration_ms=min_duration_ms,
            max_duration_ms=max_duration_ms,
            limit=limit,
            cursor=cursor,
        )
        response = await self._request("GET", "/traces", operation="traces", params=params)
        return TraceList.model_validate(response.json())

    @operation("GET", "/spans/{span_id}", response=SpanRef)
    async def span(self, span_id: str) -> SpanRef | None:
        """The trace that holds a span id; None when no stored trace does."""
        try:
            response = await self._request(
                "GET", "/spans/{span_id}", operation="span", path_params={"span_id": span_id}
            )
        except AdapterError as exc:
            if exc.status == 404:
                return None
            raise
        return SpanRef.model_validate(response.json())

    @operation(
        "GET", "/stats/operations", query=("since", "until", "service"), response=OperationStatsList
    )
    async def operation_stats(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        service: str | None = None,
    ) -> OperationStatsList:
        """Span count, errors and p50/p95/max duration per (service, operation)."""
        params = _params(since=since, until=until, service=service)
        response = await self._request(
            "GET", "/stats/operations", operation="operation_stats", params=params
        )
        return OperationStatsList.model_validate(response.json())

    @operation("GET", "/dependencies", query=("since", "until"), response=Dependencies)
    async def dependencies(
        self, *, since: datetime | str | None = None, until: datetime | str | None = None
    ) -> Dependencies:
        """Service-to-service call counts from parent and child spans of different services."""
        params = _params(since=since, until=until)
        response = await self._request(
            "GET", "/dependencies", operation="dependencies", params=params
        )
        return Dependencies.model_validate(response.json())

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

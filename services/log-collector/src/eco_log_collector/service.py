"""The log collector's logic: ingestion, trace trees, stats, live tail and retention."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import ResponseError
from sqlalchemy import Table
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_log_collector import repository as repo
from eco_log_collector.models import (
    EventOut,
    LogRecordOut,
    SpanOut,
    Stats,
    StreamLag,
    TimelineItem,
    TraceDetail,
    TraceList,
    TraceSummary,
)
from eco_log_collector.records import (
    InvalidRecord,
    error_row,
    event_row,
    from_ns,
    from_us,
    level_number,
    log_row,
    now_us,
    to_us,
)
from eco_shared.bus import Event, MalformedEvent

log = structlog.get_logger(__name__)

_UNDELIVERED_CAP = 10_000


class Ingestor:
    """Batch handlers for `eco.logs` and `eco.events`: one transaction per batch."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def handle_logs(self, events: list[Event]) -> None:
        """Store a batch of log records; invalid ones become ingest errors."""
        received = now_us()
        rows: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for event in events:
            try:
                rows.append(log_row(event, received))
            except InvalidRecord as exc:
                errors.append(error_row(event, str(exc), received))
        await self._store(repo.LOGS, rows, errors)

    async def handle_events(self, events: list[Event]) -> None:
        """Store a batch of domain events."""
        received = now_us()
        await self._store(repo.EVENTS, [event_row(e, received) for e in events], [])

    async def _store(
        self, table: Table, rows: list[dict[str, Any]], errors: list[dict[str, Any]]
    ) -> None:
        try:
            async with self.engine.begin() as conn:
                await repo.insert_ignoring_duplicates(conn, table, rows)
                await repo.insert_ignoring_duplicates(conn, repo.ERRORS, errors)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise  # the database is away: leave the batch pending, retry later
            # one bad row must not sink its batch forever: store the rest one by one
            await self._store_one_by_one(table, rows, errors, exc)

    async def _store_one_by_one(
        self,
        table: Table,
        rows: list[dict[str, Any]],
        errors: list[dict[str, Any]],
        first: DBAPIError,
    ) -> None:
        log.warning("ingest_batch_failed", table=table.name, error=str(first.orig)[:500])
        for row in rows:
            try:
                async with self.engine.begin() as conn:
                    await repo.insert_ignoring_duplicates(conn, table, [row])
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise
                errors.append(
                    {
                        "event_id": row["event_id"],
                        "stream": table.name,
                        "entry_id": row.get("entry_id"),
                        "source": row.get("service") or row.get("source"),
                        "reason": f"not storable: {str(exc.orig)[:500]}",
                        "raw": json.dumps({"row": {k: str(v)[:200] for k, v in row.items()}}),
                        "time_us": row["received_us"],
                    }
                )
        async with self.engine.begin() as conn:
            await repo.insert_ignoring_duplicates(conn, repo.ERRORS, errors)


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def log_out(row: RowMapping | dict[str, Any], row_id: int | None = None) -> LogRecordOut:
    """A stored (or just parsed) log row as its public model."""
    return LogRecordOut(
        id=row.get("id", row_id),
        event_id=row["event_id"],
        time=from_us(row["time_us"]),
        service=row["service"],
        level=row["level"],
        message=row["message"],
        logger=row["logger"],
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        request_id=row["request_id"],
        attributes=_json(row["attributes"], {}),
    )


def event_out(row: RowMapping) -> EventOut:
    """A stored event row as its public model."""
    return EventOut(
        id=row["id"],
        event_id=row["event_id"],
        type=row["type"],
        source=row["source"],
        time=from_us(row["time_us"]),
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        entry_id=row["entry_id"],
        data=_json(row["data"], {}),
    )


def span_out(row: RowMapping) -> SpanOut:
    """A stored span row as its public model (without children)."""
    return SpanOut(
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        parent_span_id=row["parent_span_id"],
        service=row["service"],
        name=row["name"],
        kind=row["kind"],
        start=from_ns(row["start_ns"]),
        end=from_ns(row["end_ns"]),
        duration_ms=row["duration_ms"],
        status_code=row["status_code"],
        status_message=row["status_message"],
        attributes=_json(row["attributes"], {}),
        events=_json(row["events"], []),
    )


def build_trace(trace_id: str, rows: repo.TraceRows) -> TraceDetail:
    """The span tree (children by start time) with logs and events on one timeline."""
    nodes = {row["span_id"]: span_out(row) for row in rows.spans}
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

    logs = [log_out(row) for row in rows.logs]
    events = [event_out(row) for row in rows.events]
    timeline = [
        TimelineItem(kind="span", time=s.start, service=s.service, span_id=s.span_id, name=s.name)
        for s in nodes.values()
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
    start = min((s.start for s in nodes.values()), default=None)
    end = max((s.end for s in nodes.values()), default=None)
    services = sorted({s.service for s in nodes.values()} | {r.service for r in logs})
    return TraceDetail(
        trace_id=trace_id,
        services=services,
        span_count=len(nodes),
        start=start,
        end=end,
        duration_ms=(end - start).total_seconds() * 1000 if start and end else None,
        roots=roots,
        logs=logs,
        events=events,
        timeline=timeline,
    )


async def recent_traces(
    engine: AsyncEngine,
    *,
    service: str | None,
    since_us: int | None,
    min_duration_ms: float | None,
    limit: int,
) -> TraceList:
    """The newest traces with their services and root span."""
    rows, services, roots = await repo.list_traces(
        engine,
        service=service,
        since_ns=since_us * 1000 if since_us is not None else None,
        min_duration_ms=min_duration_ms,
        limit=limit,
    )
    items = []
    for row in rows:
        root = roots.get(row.trace_id)
        items.append(
            TraceSummary(
                trace_id=row.trace_id,
                root_service=root["service"] if root else None,
                root_name=root["name"] if root else None,
                services=services.get(row.trace_id, []),
                span_count=row.span_count,
                error_count=row.error_count,
                start=from_ns(row.start_ns),
                duration_ms=(row.end_ns - row.start_ns) / 1_000_000,
            )
        )
    return TraceList(items=items)


async def stream_lag(redis: aioredis.Redis, key: str, name: str, group: str) -> StreamLag:
    """Length, pending and undelivered entries of `group` on one stream."""
    length = int(await redis.xlen(key))
    try:
        groups = await redis.xinfo_groups(key)
    except ResponseError:  # no such stream yet
        groups = []
    info = next((g for g in groups if _text(g.get("name")) == group), None)
    if info is None:
        return StreamLag(stream=name, length=length, pending=0, undelivered=length, lag=length)
    pending = int(info.get("pending") or 0)
    lag = info.get("lag")
    if lag is not None:
        undelivered = int(lag)
    else:
        # Redis 6.2 has no `lag`: count what lies after the last delivered id (capped)
        last = _text(info.get("last-delivered-id") or "0-0")
        undelivered = len(await redis.xrange(key, f"({last}", "+", count=_UNDELIVERED_CAP))
    return StreamLag(
        stream=name,
        length=length,
        pending=pending,
        undelivered=undelivered,
        lag=undelivered + pending,
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def dropped_records(redis: aioredis.Redis, key: str) -> dict[str, int]:
    """Dropped log records reported by every shipper, by instance."""
    raw = await redis.hgetall(key)
    out: dict[str, int] = {}
    for k, v in raw.items():
        try:
            out[_text(k)] = int(v)
        except ValueError:
            continue
    return out


async def collect_stats(
    engine: AsyncEngine,
    redis: aioredis.Redis,
    *,
    keys: dict[str, str],
    dropped_key: str,
    group: str,
    since_us: int,
    until_us: int,
) -> Stats:
    """Counts by service and level in [since, until), totals, ingest lag, dropped records."""
    by_service: dict[str, dict[str, int]] = {}
    in_window = 0
    for service, level, count in await repo.log_counts(engine, since_us, until_us):
        by_service.setdefault(service, {})[level] = count
        in_window += count
    totals = await repo.table_totals(engine)
    streams = [await stream_lag(redis, key, name, group) for name, key in keys.items()]
    dropped = await dropped_records(redis, dropped_key)
    return Stats(
        since=from_us(since_us),
        until=from_us(until_us),
        logs_by_service=by_service,
        logs_in_window=in_window,
        totals=totals,
        streams=streams,
        dropped_records=sum(dropped.values()),
        dropped_by_instance=dropped,
    )


@dataclass(frozen=True)
class TailFilter:
    service: str | None = None
    min_level_no: int | None = None

    def matches(self, row: dict[str, Any]) -> bool:
        if self.service and row["service"] != self.service:
            return False
        return self.min_level_no is None or row["level_no"] >= self.min_level_no


async def last_entry_id(redis: aioredis.Redis, key: str) -> str:
    """The id of the newest entry of a stream ("0-0" when empty or missing)."""
    newest = await redis.xrevrange(key, "+", "-", count=1)
    return _text(newest[0][0]) if newest else "0-0"


async def tail_logs(
    redis: aioredis.Redis, key: str, start_id: str, match: TailFilter, block_ms: int
) -> AsyncIterator[tuple[str, LogRecordOut]]:
    """Follow `eco.logs` from after `start_id`, yielding matching records as they arrive."""
    last = start_id
    while True:
        reply = await redis.xread({key: last}, count=500, block=block_ms)
        entries: Sequence[Any] = []
        if reply:
            entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
            if entries and isinstance(entries[0], list) and len(entries[0]) == 1:
                entries = entries[0]
        for raw_id, fields in entries:
            last = _text(raw_id)
            try:
                event = Event.from_fields(fields, stream="eco.logs", entry_id=last)
                row = log_row(event, now_us())
            except (MalformedEvent, InvalidRecord):
                continue
            if match.matches(row):
                yield last, log_out(row)


def level_filter(level: str | None) -> int | None:
    """The minimum level number of a `level` query parameter."""
    return level_number(level) if level else None


async def purge_expired(
    engine: AsyncEngine,
    *,
    retention_days: float,
    batch_size: int,
    now: datetime | None = None,
    pause_s: float = 0.0,
) -> dict[str, int]:
    """Delete what is older than the retention window, in batches; return counts by table."""
    moment = now or datetime.now(UTC)
    cutoff_us = to_us(moment) - int(retention_days * 86_400 * 1_000_000)
    plan = (
        ("logs", repo.LOGS, "time_us", cutoff_us),
        ("events", repo.EVENTS, "time_us", cutoff_us),
        ("spans", repo.SPANS, "start_ns", cutoff_us * 1000),
        ("ingest_errors", repo.ERRORS, "time_us", cutoff_us),
    )
    deleted: dict[str, int] = {}
    for name, table, column, cutoff in plan:
        total = 0
        while True:
            count = await repo.delete_older_than(engine, table, column, cutoff, batch_size)
            total += count
            if count < batch_size:
                break
            await asyncio.sleep(pause_s)  # let ingestion take the write lock in between
        deleted[name] = total
    return deleted


async def retention_loop(
    engine: AsyncEngine, *, retention_days: float, batch_size: int, interval_s: float
) -> None:
    """Run `purge_expired` now and then every `interval_s`, until cancelled."""
    while True:
        try:
            deleted = await purge_expired(
                engine, retention_days=retention_days, batch_size=batch_size, pause_s=0.05
            )
            if any(deleted.values()):
                log.info("retention_purged", retention_days=retention_days, **deleted)
        except Exception as exc:  # a failed run is retried at the next interval
            log.warning("retention_failed", error=f"{type(exc).__name__}: {exc}"[:500])
        await asyncio.sleep(interval_s)

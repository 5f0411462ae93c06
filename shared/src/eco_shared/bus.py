"""The event bus: CloudEvents envelopes on Redis Streams, read through consumer groups.

Delivery is at least once: a consumer ACKs an entry only after its handler returned,
entries left pending by dead or failing consumers are reclaimed with XAUTOCLAIM, and an
entry delivered more than `max_deliveries` times (or one that cannot be decoded) moves to
the `eco.dlq` stream with its reason. Handlers must therefore be idempotent by event id.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import socket
import time as _time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, overload

import redis.asyncio as aioredis
import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Link, SpanKind
from redis.exceptions import RedisError, ResponseError

from eco_shared.settings import EcoSettings
from eco_shared.streams import (  # noqa: F401  (stream_entries is re-exported)
    RawEntry,
    RawFields,
    as_text,
    stream_entries,
)
from eco_shared.telemetry import extract_context, inject_traceparent

__all__ = [
    "DLQ",
    "EVENTS",
    "LOGS",
    "BatchHandler",
    "Consumer",
    "DeadLetter",
    "Event",
    "EventBus",
    "EventHandler",
    "MalformedEvent",
    "new_event_id",
    "utc_now_rfc3339",
]

EVENTS = "eco.events"
LOGS = "eco.logs"
DLQ = "eco.dlq"

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
FAILURES_KEY = "eco.bus.failures:"
# Long enough to outlive any sane retry schedule; the field is deleted on ACK or DLQ anyway.
FAILURES_TTL_S = 7 * 24 * 3600
_REQUIRED = ("id", "source", "type", "time", "specversion", "data")
_MAX_REASON = 2000
_BACKOFF_BASE_S = 0.1
_BACKOFF_CAP_S = 5.0

EventHandler = Callable[["Event"], Awaitable[None]]
BatchHandler = Callable[[list["Event"]], Awaitable[None]]

_tracer = trace.get_tracer("eco_shared.bus")
_log = structlog.get_logger()


class MalformedEvent(ValueError):
    """A stream entry that is not a valid event envelope."""


def new_event_id() -> str:
    """Return a fresh, unique event id (uuid4 as 32 hex digits)."""
    # uuid.uuid4() costs ~4x as much for the same 122 random bits
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


def utc_now_rfc3339() -> str:
    """Return the current UTC time as RFC 3339 with microseconds and a `Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _entry_id(value: Any) -> tuple[int, int]:
    ms, _, seq = as_text(value).partition("-")
    return int(ms), int(seq or 0)


def _tracing_enabled() -> bool:
    """False while only the API's no-op (or not yet replaced proxy) provider is installed."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def _current_traceparent() -> str:
    return inject_traceparent({}).get("traceparent", "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A CloudEvents 1.0 envelope; `stream`, `entry_id` and `deliveries` are set when read."""

    type: str
    source: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_event_id)
    time: str = field(default_factory=utc_now_rfc3339)
    specversion: str = SPECVERSION
    datacontenttype: str = CONTENT_TYPE
    traceparent: str = ""
    stream: str = ""
    entry_id: str = ""
    deliveries: int = 0

    @property
    def timestamp(self) -> datetime:
        """The event time as an aware datetime."""
        return datetime.fromisoformat(self.time)

    def to_fields(self) -> dict[str, str]:
        """Encode as stream fields (the CloudEvents attributes, `data` as JSON)."""
        return {
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time,
            "specversion": self.specversion,
            "datacontenttype": self.datacontenttype,
            "traceparent": self.traceparent,
            "data": json.dumps(self.data, separators=(",", ":")),
        }

    @classmethod
    def from_fields(
        cls, fields: RawFields, *, stream: str = "", entry_id: str = "", deliveries: int = 0
    ) -> Event:
        """Decode stream fields; raise `MalformedEvent` when they are not a valid envelope."""
        try:
            f = {
                (k.decode() if isinstance(k, bytes) else str(k)): (
                    v.decode() if isinstance(v, bytes) else str(v)
                )
                for k, v in fields.items()
            }
        except UnicodeDecodeError as exc:
            raise MalformedEvent("fields are not UTF-8") from exc
        missing = [name for name in _REQUIRED if not f.get(name)]
        if missing:
            raise MalformedEvent(f"missing fields: {', '.join(missing)}")
        if f["specversion"] != SPECVERSION:
            raise MalformedEvent(f"unsupported specversion {f['specversion']!r}")
        content_type = f.get("datacontenttype") or CONTENT_TYPE
        if content_type != CONTENT_TYPE:
            raise MalformedEvent(f"unsupported datacontenttype {content_type!r}")
        try:
            datetime.fromisoformat(f["time"])
        except ValueError:
            raise MalformedEvent(f"time is not RFC 3339: {f['time'][:64]!r}") from None
        try:
            data = json.loads(f["data"])
        except ValueError as exc:
            raise MalformedEvent(f"data is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MalformedEvent("data is not a JSON object")
        return cls(
            id=f["id"],
            source=f["source"],
            type=f["type"],
            time=f["time"],
            specversion=SPECVERSION,
            datacontenttype=content_type,
            traceparent=f.get("traceparent", ""),
            data=data,
            stream=stream,
            entry_id=entry_id,
            deliveries=deliveries,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """One entry of the dead-letter stream: the original fields plus why it died."""

    entry_id: str
    stream: str
    group: str
    original_entry_id: str
    source: str
    handler: str
    reason: str
    deliveries: int
    dead_lettered_at: str
    dead_lettered_by: str
    fields: dict[str, str]

    @classmethod
    def from_fields(cls, entry_id: str, raw: RawFields) -> DeadLetter:
        """Read a DLQ stream entry."""
        f = {
            k.decode(errors="replace") if isinstance(k, bytes) else k: (
                v.decode(errors="replace") if isinstance(v, bytes) else v
            )
            for k, v in raw.items()
        }
        try:
            deliveries = int(f.get("deliveries", "0"))
        except ValueError:
            deliveries = 0
        return cls(
            entry_id=entry_id,
            stream=f.get("dlq_stream", ""),
            group=f.get("dlq_group", ""),
            original_entry_id=f.get("dlq_entry_id", ""),
            source=f.get("source", ""),
            handler=f.get("handler", ""),
            reason=f.get("reason", ""),
            deliveries=deliveries,
            dead_lettered_at=f.get("dead_lettered_at", ""),
            dead_lettered_by=f.get("dead_lettered_by", ""),
            fields=f,
        )

    def event(self) -> Event:
        """Decode the original event (for a replay); raise `MalformedEvent` if it was one."""
        return Event.from_fields(self.fields, stream=self.stream, entry_id=self.original_entry_id)


class EventBus:
    """Publish events to, and subscribe consumer groups on, the Redis streams of one prefix."""

    def __init__(
        self,
        redis: aioredis.Redis,
        source: str,
        *,
        prefix: str = "",
        maxlen: int = 1_000_000,
        owns_redis: bool = False,
    ) -> None:
        self.redis = redis
        self.source = source
        self.prefix = prefix
        self.maxlen = maxlen
        self._owns_redis = owns_redis
        self._consumers: list[Consumer] = []

    @classmethod
    def from_settings(
        cls, settings: EcoSettings, source: str, *, maxlen: int = 1_000_000
    ) -> EventBus:
        """Make a bus with its own Redis client from the shared settings (closed by `close`)."""
        client = aioredis.Redis.from_url(settings.redis_url)
        return cls(client, source, prefix=settings.redis_prefix, maxlen=maxlen, owns_redis=True)

    def key(self, stream: str) -> str:
        """The Redis key of a logical stream name (`eco.events` -> `<prefix>eco.events`)."""
        return f"{self.prefix}{stream}"

    async def publish(
        self,
        type: str,
        data: Mapping[str, Any],
        *,
        stream: str = EVENTS,
        id: str | None = None,
    ) -> Event:
        """Append one event to `stream` inside a PRODUCER span; return it with its entry id."""
        with _tracer.start_as_current_span(
            f"send {stream}", kind=SpanKind.PRODUCER, attributes=_send_attributes(stream)
        ) as span:
            event = Event(
                type=type,
                source=self.source,
                data=dict(data),
                id=id or new_event_id(),
                traceparent=_current_traceparent(),
                stream=stream,
            )
            span.set_attribute("messaging.message.id", event.id)
            entry_id = await self.redis.xadd(
                self.key(stream),
                event.to_fields(),  # type: ignore[arg-type]
                maxlen=self.maxlen,
                approximate=True,
            )
        return replace(event, entry_id=as_text(entry_id))

    async def publish_many(
        self, events: Iterable[tuple[str, Mapping[str, Any]]], *, stream: str = EVENTS
    ) -> list[Event]:
        """Append several `(type, data)` events in one round trip under one `send` span."""
        items = list(events)
        if not items:
            return []
        key = self.key(stream)
        now = utc_now_rfc3339()
        with _tracer.start_as_current_span(
            f"send {stream}", kind=SpanKind.PRODUCER, attributes=_send_attributes(stream)
        ) as span:
            span.set_attribute("messaging.batch.message_count", len(items))
            traceparent = _current_traceparent()
            pipe = self.redis.pipeline(transaction=False)
            ids = []
            for type_, data in items:
                event_id = new_event_id()
                ids.append(event_id)
                fields = {
                    "id": event_id,
                    "source": self.source,
                    "type": type_,
                    "time": now,
                    "specversion": SPECVERSION,
                    "datacontenttype": CONTENT_TYPE,
                    "traceparent": traceparent,
                    "data": json.dumps(data, separators=(",", ":")),
                }
                pipe.xadd(key, fields, maxlen=self.maxlen, approximate=True)  # type: ignore[arg-type]
            entry_ids = await pipe.execute()
        return [
            Event(
                type=type_,
                source=self.source,
                data=dict(data),
                id=event_id,
                time=now,
                traceparent=traceparent,
                stream=stream,
                entry_id=as_text(entry_id),
            )
            for (type_, data), event_id, entry_id in zip(items, ids, entry_ids, strict=True)
        ]

    @overload
    def subscribe(
        self,
        stream: str,
        group: str,
        handler: EventHandler,
        *,
        consumer: str | None = None,
        batch_size: int = 100,
        block_ms: int = 1000,
        reclaim_idle_ms: int = 30_000,
        reclaim_interval_s: float | None = None,
        max_deliveries: int = 5,
        batch_handler: Literal[False] = False,
    ) -> Consumer: ...

    @overload
    def subscribe(
        self,
        stream: str,
        group: str,
        handler: BatchHandler,
        *,
        consumer: str | None = None,
        batch_size: int = 100,
        block_ms: int = 1000,
        reclaim_idle_ms: int = 30_000,
        reclaim_interval_s: float | None = None,
        max_deliveries: int = 5,
        batch_handler: Literal[True],
    ) -> Consumer: ...

    def subscribe(
        self,
        stream: str,
        group: str,
        handler: EventHandler | BatchHandler,
        *,
        consumer: str | None = None,
        batch_size: int = 100,
        block_ms: int = 1000,
        reclaim_idle_ms: int = 30_000,
        reclaim_interval_s: float | None = None,
        max_deliveries: int = 5,
        batch_handler: bool = False,
    ) -> Consumer:
        """Make a consumer of `group` on `stream`; the group is created when it first runs."""
        created = Consumer(
            self,
            stream,
            group,
            handler,
            name=consumer,
            batch_size=batch_size,
            block_ms=block_ms,
            reclaim_idle_ms=reclaim_idle_ms,
            reclaim_interval_s=reclaim_interval_s,
            max_deliveries=max_deliveries,
            batch_handler=batch_handler,
        )
        self._consumers.append(created)
        return created

    async def ensure_group(self, stream: str, group: str) -> None:
        """Create the consumer group (and the stream) if missing; it starts at the beginning."""
        try:
            await self.redis.xgroup_create(self.key(stream), group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def pending_count(self, stream: str, group: str) -> int:
        """How many entries `group` has read from `stream` and not yet ACKed (0 if none)."""
        try:
            summary = await self.redis.xpending(self.key(stream), group)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                return 0
            raise
        return int(summary["pending"])

    async def trim_consumed(self, stream: str) -> int:
        """Delete the entries every consumer group of `stream` has read and ACKed.

        The floor is the oldest entry any group still needs: its oldest pending entry, or
        the one after the last it read. A stream without groups is left to MAXLEN.
        """
        key = self.key(stream)
        try:
            groups = await self.redis.xinfo_groups(key)
        except ResponseError:
            return 0  # no such stream
        if not groups:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for group in groups:
            pipe.xpending(key, as_text(group["name"]))
        summaries = await pipe.execute()
        floor: tuple[int, int] | None = None
        for group, summary in zip(groups, summaries, strict=True):
            if int(summary["pending"]):
                needed = _entry_id(summary["min"])
            else:
                ms, seq = _entry_id(group["last-delivered-id"])
                needed = (ms, seq + 1)
            floor = needed if floor is None else min(floor, needed)
        if floor is None or floor <= (0, 1):
            return 0
        # Exact, not "~": whole radix-tree nodes would keep consumed entries around.
        return int(await self.redis.xtrim(key, minid=f"{floor[0]}-{floor[1]}", approximate=False))

    async def dlq_entries(self, count: int = 100) -> list[DeadLetter]:
        """The oldest `count` dead letters of this prefix."""
        entries = await self.redis.xrange(self.key(DLQ), "-", "+", count=count)
        return [
            DeadLetter.from_fields(as_text(entry_id), raw)
            for entry_id, raw in entries or []
            if entry_id is not None and raw is not None
        ]

    async def close(self, timeout: float | None = 10.0) -> None:
        """Stop this bus's running consumers and close the Redis client if the bus made it."""
        consumers, self._consumers = self._consumers, []
        await asyncio.gather(*(c.stop(timeout) for c in consumers))
        if self._owns_redis:
            await self.redis.aclose()

    async def __aenter__(self) -> EventBus:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _send_attributes(stream: str) -> dict[str, str]:
    return {
        "messaging.system": "redis",
        "messaging.destination.name": stream,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
    }


def _handler_name(handler: Callable[..., Any]) -> str:
    qualname = getattr(handler, "__qualname__", None)
    if qualname is None:
        return repr(handler)
    module = getattr(handler, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__qualname__}: {exc}"[:_MAX_REASON]


@dataclass(slots=True)
class _Dead:
    entry_id: str
    fields: RawFields
    reason: str
    deliveries: int


class _Backoff:
    """Capped exponential back-off with jitter, reset after a successful round."""

    def __init__(self) -> None:
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * float(1 << self.attempt))
        self.attempt = min(self.attempt + 1, 16)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.attempt = 0


class Consumer:
    """One named consumer of a consumer group: reads, handles, ACKs, reclaims, dead-letters."""

    def __init__(
        self,
        bus: EventBus,
        stream: str,
        group: str,
        handler: EventHandler | BatchHandler,
        *,
        name: str | None = None,
        batch_size: int = 100,
        block_ms: int = 1000,
        reclaim_idle_ms: int = 30_000,
        reclaim_interval_s: float | None = None,
        max_deliveries: int = 5,
        batch_handler: bool = False,
    ) -> None:
        if batch_size < 1 or block_ms < 1 or reclaim_idle_ms < 1 or max_deliveries < 1:
            raise ValueError(
                "batch_size, block_ms, reclaim_idle_ms and max_deliveries must be >= 1"
            )
        self.bus = bus
        self.redis = bus.redis
        self.stream = stream
        self.group = group
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.handler = handler
        self.handler_name = _handler_name(handler)
        self.batch_handler = batch_handler
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.reclaim_idle_ms = reclaim_idle_ms
        if reclaim_interval_s is None:
            reclaim_interval_s = min(reclaim_idle_ms / 2000, 60.0)
        self.reclaim_interval_s = max(reclaim_interval_s, 0.01)
        self.max_deliveries = max_deliveries
        self._key = bus.key(stream)
        self._dlq_key = bus.key(DLQ)
        self._failures_key = bus.key(f"{FAILURES_KEY}{stream}:{group}")
        self._span_name = f"process {stream}"
        self._span_attributes = {
            "messaging.system": "redis",
            "messaging.destination.name": stream,
            "messaging.consumer.group.name": group,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.client.id": self.name,
        }
        self._stopping = False
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._done.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def _log(self) -> Any:
        # bound at each call, so a logging set-up made after this consumer still applies
        return _log.bind(stream=self.stream, group=self.group, consumer=self.name)

    @property
    def running(self) -> bool:
        """Whether the loop is running."""
        return not self._done.is_set()

    async def ensure_group(self) -> None:
        """Create this consumer's group if it does not exist yet."""
        await self.bus.ensure_group(self.stream, self.group)

    def start(self) -> asyncio.Task[None]:
        """Run the loop as a task of the current event loop and return it."""
        if self.running:
            raise RuntimeError(f"consumer {self.name} is already running")
        self._reset()
        self._task = asyncio.create_task(self._run(), name=f"bus-consumer-{self.name}")
        return self._task

    async def run(self) -> None:
        """Run the loop until `stop()` is called (or the task is cancelled)."""
        if self.running:
            raise RuntimeError(f"consumer {self.name} is already running")
        self._reset()
        self._task = asyncio.current_task()
        await self._run()

    async def stop(self, timeout: float | None = 10.0) -> None:
        """Let the running handler finish and ACK, then end the loop; cancel after `timeout`."""
        self._stopping = True
        self._wake.set()
        task = self._task
        # called from a handler: the loop ends once that handler returns
        if not self.running or (task is not None and task is asyncio.current_task()):
            return
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            self._log.warning("bus_consumer_stop_timeout", timeout_s=timeout)
            if task is not None:
                task.cancel()
        if task is not None:
            await asyncio.wait({task})

    async def __aenter__(self) -> Consumer:
        await self.ensure_group()
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _reset(self) -> None:
        self._stopping = False
        self._wake.clear()
        self._done.clear()

    async def _run(self) -> None:
        backoff = _Backoff()
        need_group = need_history = True
        next_reclaim = 0.0
        self._log.info("bus_consumer_started")
        try:
            while not self._stopping:
                try:
                    if need_group:
                        await self.ensure_group()
                        need_group = False
                    if need_history:
                        await self._resume_own_pending()
                        need_history = False
                    if _time.monotonic() >= next_reclaim:
                        await self._reclaim()
                        # Keep the stream to what some group still needs (MAXLEN is only
                        # the safety cap): every consumer may do this, it is idempotent.
                        await self.bus.trim_consumed(self.stream)
                        next_reclaim = _time.monotonic() + self.reclaim_interval_s
                    if self._stopping:
                        break
                    block = int((next_reclaim - _time.monotonic()) * 1000)
                    reply = await self.redis.xreadgroup(
                        self.group,
                        self.name,
                        {self._key: ">"},
                        count=self.batch_size,
                        block=max(1, min(self.block_ms, block)),
                    )
                    entries = stream_entries(reply)
                    # fetched after stop() was asked: they stay pending for a restart or reclaim
                    if entries and not self._stopping:
                        await self._process(entries)
                    backoff.reset()
                except (RedisError, OSError) as exc:
                    if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                        need_group = True
                    need_history = True
                    delay = backoff.next_delay()
                    self._log.warning(
                        "bus_redis_error", error=_reason(exc), retry_in_s=round(delay, 3)
                    )
                    await self._sleep(delay)
                except Exception as exc:  # a bug must not kill the consumer, nor spin it
                    delay = backoff.next_delay()
                    self._log.exception(
                        "bus_consumer_error", error=_reason(exc), retry_in_s=round(delay, 3)
                    )
                    await self._sleep(delay)
        finally:
            self._done.set()
            self._log.info("bus_consumer_stopped")

    async def _sleep(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), delay)
        except TimeoutError:
            pass

    async def _resume_own_pending(self) -> None:
        """Re-read this consumer's own pending entries (a restart under the same name)."""
        last: Any = "0"
        while not self._stopping:
            reply = await self.redis.xreadgroup(
                self.group, self.name, {self._key: last}, count=self.batch_size
            )
            entries = stream_entries(reply)
            if not entries:
                return
            last = entries[-1][0]
            # an entry deleted from the stream comes back with no fields
            deleted = [as_text(entry_id) for entry_id, fields in entries if not fields]
            if deleted:
                await self._drop_deleted(deleted)
            live = [(entry_id, fields) for entry_id, fields in entries if fields]
            if live:
                await self._process_redelivered(live)

    async def _reclaim(self) -> None:
        """XAUTOCLAIM entries idle longer than `reclaim_idle_ms`, in cursor order."""
        cursor = "0-0"
        while not self._stopping:
            reply = await self.redis.xautoclaim(
                self._key,
                self.group,
                self.name,
                self.reclaim_idle_ms,
                cursor,
                count=self.batch_size,
            )
            next_cursor = as_text(reply[0])
            claimed = reply[1] or []
            # Redis 7 lists deleted ids third; Redis 6.2 returns them as nil entries
            deleted = [as_text(entry_id) for entry_id in reply[2]] if len(reply) > 2 else []
            live = [(entry_id, fields) for entry_id, fields in claimed if entry_id is not None]
            if len(live) < len(claimed):
                deleted += await self._find_deleted(cursor, next_cursor)
            if deleted:
                await self._drop_deleted(deleted)
            if live:
                await self._process_redelivered(live)
            if next_cursor in ("0-0", "0"):
                return
            cursor = next_cursor

    async def _find_deleted(self, start: str, end: str) -> list[str]:
        """Own pending ids in [start, end] whose entries no longer exist (Redis 6.2 only)."""
        if end in ("0-0", "0"):
            end = "+"
        pending = await self.redis.xpending_range(
            self._key, self.group, start, end, self.batch_size * 4, consumername=self.name
        )
        ids = [as_text(p["message_id"]) for p in pending]
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xrange(self._key, entry_id, entry_id, count=1)
        found = await pipe.execute()
        return [entry_id for entry_id, rows in zip(ids, found, strict=True) if not rows]

    async def _drop_deleted(self, entry_ids: list[str]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self._key, self.group, *entry_ids)
        pipe.hdel(self._failures_key, *entry_ids)
        await pipe.execute()
        self._log.warning("bus_deleted_entries_dropped", count=len(entry_ids))

    async def _process_redelivered(self, entries: list[RawEntry]) -> None:
        """Handle entries delivered before, with their delivery counts taken from Redis."""
        ids = [as_text(entry_id) for entry_id, _ in entries]
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xpending_range(self._key, self.group, entry_id, entry_id, 1)
        pipe.hmget(self._failures_key, ids)
        *pending, reasons = await pipe.execute()
        deliveries: dict[str, int] = {}
        recorded: dict[str, str] = {}
        for entry_id, rows, reason in zip(ids, pending, reasons, strict=True):
            # gone from our PEL: ACKed or taken by someone else in the meantime
            if not rows or as_text(rows[0]["consumer"]) != self.name:
                continue
            deliveries[entry_id] = int(rows[0]["times_delivered"])
            if reason is not None:
                recorded[entry_id] = as_text(reason)
        mine = [
            entry for entry, entry_id in zip(entries, ids, strict=True) if entry_id in deliveries
        ]
        if mine:
            await self._process(mine, deliveries, recorded)

    async def _process(
        self,
        entries: Sequence[RawEntry],
        deliveries: Mapping[str, int] | None = None,
        recorded: Mapping[str, str] | None = None,
    ) -> None:
        """Decode, handle and settle one batch (fresh entries have been delivered once)."""
        events: list[Event] = []
        dead: list[_Dead] = []
        stream = self.stream
        for raw_id, fields in entries:
            entry_id = as_text(raw_id)
            count = deliveries[entry_id] if deliveries is not None else 1
            if count > self.max_deliveries:
                reason = (recorded or {}).get(entry_id) or "max deliveries exceeded"
                # this delivery was not handed to the handler: count only the ones that were
                dead.append(_Dead(entry_id, fields, reason, count - 1))
                continue
            try:
                events.append(
                    Event.from_fields(fields, stream=stream, entry_id=entry_id, deliveries=count)
                )
            except MalformedEvent as exc:
                dead.append(_Dead(entry_id, fields, f"malformed: {exc}", count))
        if self.batch_handler:
            acked, failed = await self._handle_batch(events)
        else:
            acked, failed = await self._handle_each(events)
        await self._settle(entries, acked, failed, dead)

    async def _handle_each(
        self, events: list[Event]
    ) -> tuple[list[Event], list[tuple[Event, str]]]:
        handler: EventHandler = self.handler  # type: ignore[assignment]
        acked: list[Event] = []
        failed: list[tuple[Event, str]] = []
        tracing = _tracing_enabled()
        for event in events:
            if self._stopping:
                break
            try:
                if tracing:
                    attributes = dict(self._span_attributes)
                    attributes["messaging.message.id"] = event.id
                    with _tracer.start_as_current_span(
                        self._span_name,
                        context=extract_context({"traceparent": event.traceparent}),
                        kind=SpanKind.CONSUMER,
                        attributes=attributes,
                    ):
                        await handler(event)
                else:
                    # what the no-op tracer would do (the producer's span becomes current),
                    # without the cost of its context managers on every event
                    parent = (
                        trace.get_current_span(extract_context({"traceparent": event.traceparent}))
                        if event.traceparent
                        else INVALID_SPAN
                    )
                    token = otel_context.attach(trace.set_span_in_context(parent))
                    try:
                        await handler(event)
                    finally:
                        otel_context.detach(token)
            except Exception as exc:
                failed.append((event, self._failure(exc, [event])))
            else:
                acked.append(event)
        return acked, failed

    async def _handle_batch(
        self, events: list[Event]
    ) -> tuple[list[Event], list[tuple[Event, str]]]:
        if not events or self._stopping:
            return [], []
        handler: BatchHandler = self.handler  # type: ignore[assignment]
        links = []
        for event in events:
            parent = trace.get_current_span(extract_context({"traceparent": event.traceparent}))
            if parent.get_span_context().is_valid:
                links.append(Link(parent.get_span_context()))
        attributes: dict[str, Any] = dict(self._span_attributes)
        attributes["messaging.batch.message_count"] = len(events)
        try:
            with _tracer.start_as_current_span(
                self._span_name,
                context=extract_context({}),
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                links=links,
            ):
                await handler(events)
        except Exception as exc:
            reason = self._failure(exc, events)
            return [], [(event, reason) for event in events]
        return events, []

    def _failure(self, exc: Exception, events: list[Event]) -> str:
        reason = _reason(exc)
        if len(events) == 1:
            ids: dict[str, Any] = {"event_id": events[0].id, "entry_id": events[0].entry_id}
        else:
            ids = {"batch_size": len(events), "first_entry_id": events[0].entry_id}
        self._log.warning(
            "bus_handler_failed",
            handler=self.handler_name,
            deliveries=max(e.deliveries for e in events),
            error=reason,
            exc_info=exc,
            **ids,
        )
        return reason

    async def _settle(
        self,
        entries: Sequence[RawEntry],
        acked: list[Event],
        failed: list[tuple[Event, str]],
        dead: list[_Dead],
    ) -> None:
        """ACK successes in one call; record failures; dead-letter atomically with the ACK."""
        ack_ids = [e.entry_id for e in acked]
        forget = [e.entry_id for e in acked if e.deliveries > 1]
        record: dict[str, str] = {}
        if failed:
            raw = {as_text(entry_id): fields for entry_id, fields in entries}
            for event, reason in failed:
                if event.deliveries >= self.max_deliveries:
                    dead.append(
                        _Dead(event.entry_id, raw[event.entry_id], reason, event.deliveries)
                    )
                else:
                    record[event.entry_id] = reason
        if not (forget or record or dead):
            if ack_ids:
                await self.redis.xack(self._key, self.group, *ack_ids)
            return
        pipe = self.redis.pipeline(transaction=True)
        if ack_ids:
            pipe.xack(self._key, self.group, *ack_ids)
        if record:
            pipe.hset(self._failures_key, mapping=record)  # type: ignore[arg-type]
            pipe.expire(self._failures_key, FAILURES_TTL_S)
        if dead:
            now = utc_now_rfc3339()
            for item in dead:
                pipe.xadd(
                    self._dlq_key,
                    self._dead_letter_fields(item, now),
                    maxlen=self.bus.maxlen,
                    approximate=True,
                )
            dead_ids = [item.entry_id for item in dead]
            pipe.xack(self._key, self.group, *dead_ids)
            forget.extend(dead_ids)
        if forget:
            pipe.hdel(self._failures_key, *forget)
        await pipe.execute()
        for item in dead:
            self._log.error(
                "bus_event_dead_lettered",
                entry_id=item.entry_id,
                handler=self.handler_name,
                reason=item.reason,
                deliveries=item.deliveries,
            )

    def _dead_letter_fields(self, item: _Dead, now: str) -> dict[Any, Any]:
        fields: dict[Any, Any] = {}
        for key, value in item.fields.items():
            if isinstance(key, bytes):
                try:
                    key = key.decode()
                except UnicodeDecodeError:
                    pass
            fields[key] = value
        fields.update(
            dlq_stream=self.stream,
            dlq_group=self.group,
            dlq_entry_id=item.entry_id,
            handler=self.handler_name,
            reason=item.reason,
            deliveries=str(item.deliveries),
            dead_lettered_at=now,
            dead_lettered_by=self.name,
        )
        return fields

"""`EventBus`: publish events, subscribe consumers, keep the streams of one prefix trimmed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal, TypedDict, Unpack, overload

import redis.asyncio as aioredis
from opentelemetry.trace import SpanKind
from redis.exceptions import ResponseError

from eco_shared._closing import AsyncClosing
from eco_shared.bus._consumer import Consumer
from eco_shared.bus._dead_letters import DeadLetter, read_dead_letters
from eco_shared.bus._dispatch import BatchHandler, EventHandler, _tracer
from eco_shared.bus._event import (
    DLQ,
    EVENTS,
    Event,
    envelope_fields,
    new_event_id,
    utc_now_rfc3339,
)
from eco_shared.settings import EcoSettings
from eco_shared.streams import as_text
from eco_shared.telemetry import inject_traceparent


class ConsumerOptions(TypedDict, total=False):
    """A consumer's tuning, as `EventBus.subscribe` passes it on (defaults: `Consumer`'s)."""

    batch_size: int
    block_ms: int
    reclaim_idle_ms: int
    reclaim_interval_s: float | None
    max_deliveries: int


def _current_traceparent() -> str:
    return inject_traceparent({}).get("traceparent", "")


def _send_attributes(stream: str) -> dict[str, str]:
    return {
        "messaging.system": "redis",
        "messaging.destination.name": stream,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
    }


def _entry_id(value: Any) -> tuple[int, int]:
    ms, _, seq = as_text(value).partition("-")
    return int(ms), int(seq or 0)


class EventBus(AsyncClosing):
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
        time: str | None = None,
    ) -> Event:
        """Append one event to `stream` inside a PRODUCER span; return it with its entry id.

        `id` and `time` (RFC 3339) default to new ones; an outbox relay passes the staged ones.
        """
        with _tracer.start_as_current_span(
            f"send {stream}", kind=SpanKind.PRODUCER, attributes=_send_attributes(stream)
        ) as span:
            event = Event(
                type=type,
                source=self.source,
                data=dict(data),
                id=id or new_event_id(),
                time=time or utc_now_rfc3339(),
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
                fields = envelope_fields(
                    id=event_id,
                    source=self.source,
                    type=type_,
                    time=now,
                    traceparent=traceparent,
                    data=data,
                )
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
        batch_handler: Literal[False] = False,
        **options: Unpack[ConsumerOptions],
    ) -> Consumer: ...

    @overload
    def subscribe(
        self,
        stream: str,
        group: str,
        handler: BatchHandler,
        *,
        consumer: str | None = None,
        batch_handler: Literal[True],
        **options: Unpack[ConsumerOptions],
    ) -> Consumer: ...

    def subscribe(
        self,
        stream: str,
        group: str,
        handler: EventHandler | BatchHandler,
        *,
        consumer: str | None = None,
        batch_handler: bool = False,
        **options: Unpack[ConsumerOptions],
    ) -> Consumer:
        """Make a consumer of `group` on `stream`; the group is created when it first runs.

        `consumer` names it (default: host, pid and a random suffix); `options` are
        `Consumer`'s: batch_size, block_ms, reclaim_idle_ms, reclaim_interval_s,
        max_deliveries.
        """
        created = Consumer(
            self, stream, group, handler, name=consumer, batch_handler=batch_handler, **options
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
        return await read_dead_letters(self.redis, self.key(DLQ), count)

    async def close(self, timeout: float | None = 10.0) -> None:
        """Stop this bus's running consumers and close the Redis client if the bus made it."""
        consumers, self._consumers = self._consumers, []
        await asyncio.gather(*(c.stop(timeout) for c in consumers))
        if self._owns_redis:
            await self.redis.aclose()

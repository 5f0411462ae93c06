"""The event bus against a real Redis: delivery, redelivery, dead letters, tracing, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from eco_shared.bus import DLQ, EVENTS, Consumer, Event, EventBus
from eco_shared.redis_server import RedisServer
from eco_shared.settings import EcoSettings

SOURCE = "test-svc"
# Small idle times keep the suite quick; production defaults are 30 s.
FAST: dict[str, Any] = {"block_ms": 50, "reclaim_idle_ms": 300, "reclaim_interval_s": 0.05}


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


async def cancel(consumer: Consumer) -> None:
    """Kill a consumer's task as a crash would (no graceful stop)."""
    task = consumer._task
    assert task is not None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()


def hanging_handler() -> tuple[asyncio.Event, Callable[[Event], Awaitable[None]]]:
    """A handler that never returns, and the event it sets once it has been called."""
    called = asyncio.Event()

    async def hangs(event: Event) -> None:
        called.set()
        await asyncio.Event().wait()

    return called, hangs


@pytest.fixture
async def bus(redis_client: aioredis.Redis, redis_prefix: str) -> AsyncIterator[EventBus]:
    bus = EventBus(redis_client, SOURCE, prefix=redis_prefix)
    yield bus
    await bus.close(timeout=2)


async def test_publish_subscribe_round_trip(
    bus: EventBus, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    consumer = bus.subscribe(EVENTS, "g-round-trip", handler, **FAST)
    # A group that reads nothing keeps the entry from being trimmed, so its raw fields can
    # be checked below.
    await bus.ensure_group(EVENTS, "g-witness")
    consumer.start()
    published = await bus.publish("document.stored", {"document_id": "d1", "tags": ["a", "b"]})
    await wait_until(lambda: len(seen) == 1, what="the event handled")
    await wait_until(lambda: _pending_is(bus, "g-round-trip", 0), what="the ACK")
    await asyncio.sleep(0.4)  # longer than the reclaim idle time: a missing ACK would redeliver
    assert len(seen) == 1

    event = seen[0]
    assert event.id == published.id
    assert len(event.id) == 32
    assert (event.specversion, event.source, event.type) == ("1.0", SOURCE, "document.stored")
    assert event.datacontenttype == "application/json"
    assert event.data == {"document_id": "d1", "tags": ["a", "b"]}
    assert event.timestamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - event.timestamp) < timedelta(minutes=1)
    assert (event.stream, event.entry_id, event.deliveries) == (EVENTS, published.entry_id, 1)
    assert event.traceparent == ""  # no span was active and no SDK provider needed

    [(entry_id, raw)] = await redis_client.xrange(redis_prefix + EVENTS)
    assert entry_id.decode() == published.entry_id
    envelope = "id source type time specversion datacontenttype traceparent data".split()
    assert {k.decode() for k in raw} == set(envelope)
    assert json.loads(raw[b"data"]) == event.data
    assert await bus.pending_count(EVENTS, "g-round-trip") == 0
    t0 = time.monotonic()
    await consumer.stop()
    assert time.monotonic() - t0 < 0.5  # an idle loop ends within block_ms
    assert not consumer.running


async def _pending_is(bus: EventBus, group: str, expected: int, stream: str = EVENTS) -> bool:
    return await bus.pending_count(stream, group) == expected


async def test_publish_many_acks_each_batch_with_one_call(private_redis: RedisServer) -> None:
    # a server of its own: XACKs are counted server-wide, and other suites share the test Redis
    redis_client = aioredis.Redis.from_url(private_redis.url)
    bus = EventBus(redis_client, SOURCE)
    published = await bus.publish_many(("item.added", {"i": i}) for i in range(250))
    assert [e.data["i"] for e in published] == list(range(250))
    assert len({e.id for e in published}) == 250
    seen: list[int] = []

    async def handler(event: Event) -> None:
        seen.append(event.data["i"])

    before = await _xack_calls(redis_client)
    consumer = bus.subscribe(EVENTS, "g-many", handler, batch_size=100, **FAST)
    consumer.start()
    await wait_until(lambda: len(seen) == 250, what="all handled")
    await wait_until(lambda: _pending_is(bus, "g-many", 0), what="all ACKed")
    await consumer.stop()
    assert seen == list(range(250))  # in stream order
    # 250 entries in batches of 100: three XACKs, not one per message
    assert await _xack_calls(redis_client) - before <= 3
    await bus.close(timeout=2)
    await redis_client.aclose()


async def _xack_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_xack", {}).get("calls", 0))


async def test_killed_consumer_messages_are_redelivered_to_another(
    bus: EventBus, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    applied_key = redis_prefix + "applied"
    effects: Counter[str] = Counter()
    hang = asyncio.Event()
    calls_a = 0
    seen_by_b: dict[str, int] = {}

    async def apply(event: Event) -> None:
        # idempotent by event id: the effect happens only for the first delivery
        if await redis_client.sadd(applied_key, event.id):
            effects[event.id] += 1

    async def handler_a(event: Event) -> None:
        nonlocal calls_a
        calls_a += 1
        if calls_a == 15:  # partway through the second batch
            hang.set()
            await asyncio.Event().wait()
        await apply(event)

    async def handler_b(event: Event) -> None:
        seen_by_b[event.id] = event.deliveries
        await apply(event)

    published = await bus.publish_many(("job.queued", {"i": i}) for i in range(50))
    consumer_a = bus.subscribe(EVENTS, "g-kill", handler_a, consumer="a", batch_size=10, **FAST)
    consumer_a.start()
    await asyncio.wait_for(hang.wait(), 5)
    await cancel(consumer_a)
    # the first batch was ACKed; the whole second batch (in flight + unstarted) is pending
    assert await bus.pending_count(EVENTS, "g-kill") == 10
    killed = published[14]
    assert killed.id not in effects

    consumer_b = bus.subscribe(EVENTS, "g-kill", handler_b, consumer="b", batch_size=10, **FAST)
    consumer_b.start()
    await wait_until(lambda: len(effects) == 50, what="every event applied")
    await wait_until(lambda: _pending_is(bus, "g-kill", 0), what="all ACKed")
    assert set(effects) == {e.id for e in published}
    assert set(effects.values()) == {1}
    assert await redis_client.scard(applied_key) == 50
    assert seen_by_b[killed.id] == 2  # redelivered, with the count Redis keeps
    assert {e.id for e in published[10:20]} <= set(seen_by_b)


async def test_failing_handler_dead_letters_after_max_deliveries(bus: EventBus) -> None:
    attempts = 0
    handled: list[int] = []

    async def always_fails(event: Event) -> None:
        nonlocal attempts
        if event.type == "poison":
            attempts += 1
            raise ValueError(f"cannot digest {event.data['n']}")
        handled.append(event.data["i"])

    consumer = bus.subscribe(EVENTS, "g-poison", always_fails, max_deliveries=3, **FAST)
    consumer.start()
    poison = await bus.publish("poison", {"n": 7})
    await bus.publish_many(("ok", {"i": i}) for i in range(5))
    await wait_until(lambda: handled == list(range(5)), what="later events handled")
    await wait_until(lambda: _dlq_size(bus, 1), timeout=10, what="the dead letter")
    await wait_until(lambda: _pending_is(bus, "g-poison", 0), what="nothing pending")
    await asyncio.sleep(0.5)  # it must not be retried any more
    assert attempts == 3

    [dead] = await bus.dlq_entries()
    assert "ValueError: cannot digest 7" in dead.reason
    assert dead.handler.endswith(
        "test_failing_handler_dead_letters_after_max_deliveries.<locals>.always_fails"
    )
    assert dead.deliveries == 3
    assert dead.source == SOURCE
    assert (dead.stream, dead.group, dead.original_entry_id) == (
        EVENTS,
        "g-poison",
        poison.entry_id,
    )
    assert dead.dead_lettered_by == consumer.name
    assert datetime.fromisoformat(dead.dead_lettered_at).utcoffset() == timedelta(0)
    original = dead.event()
    assert (original.id, original.type, original.data) == (poison.id, "poison", {"n": 7})


async def _dlq_size(bus: EventBus, expected: int) -> bool:
    return len(await bus.dlq_entries()) == expected


async def test_dead_letter_uses_redis_delivery_count_and_another_consumers_reason(
    bus: EventBus, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    calls: Counter[str] = Counter()

    async def fails(event: Event) -> None:
        calls["a"] += 1
        raise RuntimeError("disk full")

    async def never_called(event: Event) -> None:
        calls["b"] += 1

    published = await bus.publish("report.requested", {"r": 1})
    consumer_a = bus.subscribe(
        EVENTS, "g-count", fails, consumer="a", max_deliveries=10, reclaim_idle_ms=60_000
    )
    consumer_a.start()
    await wait_until(lambda: calls["a"] == 1, what="the first failure")
    await consumer_a.stop()
    # as if it had been delivered 7 times by consumers that crashed since
    await redis_client.xclaim(
        redis_prefix + EVENTS, "g-count", "a", 0, [published.entry_id], retrycount=7
    )
    consumer_b = bus.subscribe(
        EVENTS, "g-count", never_called, consumer="b", max_deliveries=3, **FAST
    )
    consumer_b.start()
    await wait_until(lambda: _dlq_size(bus, 1), what="the dead letter")
    [dead] = await bus.dlq_entries()
    assert dead.deliveries == 7
    assert "RuntimeError: disk full" in dead.reason  # recorded by consumer a
    assert dead.dead_lettered_by == "b"
    assert dead.handler.endswith("never_called")
    assert calls["b"] == 0
    assert await bus.pending_count(EVENTS, "g-count") == 0


async def test_trace_context_flows_from_publisher_to_consumer(
    bus: EventBus, span_exporter: InMemorySpanExporter
) -> None:
    tracer = trace.get_tracer("test")
    inside: dict[str, trace.SpanContext] = {}

    async def handler(event: Event) -> None:
        inside[event.id] = trace.get_current_span().get_span_context()

    consumer = bus.subscribe(EVENTS, "g-trace", handler, **FAST)
    consumer.start()
    with tracer.start_as_current_span("request") as parent:
        published = await bus.publish("run.started", {"run_id": "r1"})
        [batched] = await bus.publish_many([("run.completed", {"run_id": "r1"})])
    await wait_until(lambda: len(inside) == 2, what="both events handled")

    def spans(name: str, message_id: str) -> list[ReadableSpan]:
        return [
            s
            for s in span_exporter.get_finished_spans()
            if s.name == name and (s.attributes or {}).get("messaging.message.id") == message_id
        ]

    trace_id = parent.get_span_context().trace_id
    await wait_until(lambda: len(spans("process eco.events", published.id)) == 1)
    [send] = spans("send eco.events", published.id)
    [process] = spans("process eco.events", published.id)
    assert send.kind is SpanKind.PRODUCER
    assert process.kind is SpanKind.CONSUMER
    assert send.context is not None
    assert process.context is not None
    assert send.parent is not None
    assert send.parent.span_id == parent.get_span_context().span_id
    assert send.context.trace_id == process.context.trace_id == trace_id
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id
    assert published.traceparent.startswith(f"00-{trace_id:032x}-{send.context.span_id:016x}-")
    assert inside[published.id].span_id == process.context.span_id  # the handler runs inside it
    send_attrs = dict(send.attributes or {})
    assert send_attrs["messaging.system"] == "redis"
    assert send_attrs["messaging.destination.name"] == EVENTS
    assert send_attrs["messaging.operation.type"] == "send"
    process_attrs = dict(process.attributes or {})
    assert process_attrs["messaging.destination.name"] == EVENTS
    assert process_attrs["messaging.consumer.group.name"] == "g-trace"
    assert process_attrs["messaging.operation.type"] == "process"
    assert process_attrs["messaging.message.id"] == published.id

    # publish_many: one send span for the batch, still the parent of each process span
    await wait_until(lambda: len(spans("process eco.events", batched.id)) == 1)
    [batch_send] = [
        s
        for s in span_exporter.get_finished_spans()
        if s.name == "send eco.events"
        and (s.attributes or {}).get("messaging.batch.message_count") == 1
        and s.context is not None
        and s.context.trace_id == trace_id
    ]
    [batch_process] = spans("process eco.events", batched.id)
    assert batch_send.context is not None
    assert batch_process.parent is not None
    assert batch_process.parent.span_id == batch_send.context.span_id


@pytest.mark.parametrize("tracing", [True, False], ids=["sdk", "no-op"])
async def test_handler_runs_in_the_producers_context_only(
    bus: EventBus,
    redis_client: aioredis.Redis,
    span_exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    tracing: bool,
) -> None:
    # the no-op path skips span objects but must leave the same current context
    monkeypatch.setattr("eco_shared.bus._dispatch._tracing_enabled", lambda: tracing)
    remote_trace, remote_span = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
    traced = Event(
        type="a", source="elsewhere", traceparent=f"00-{remote_trace:032x}-{remote_span:016x}-01"
    )
    untraced = Event(type="b", source="elsewhere")
    for event in (traced, untraced):
        await redis_client.xadd(bus.key(EVENTS), event.to_fields())  # type: ignore[arg-type]
    inside: dict[str, trace.SpanContext] = {}

    async def handler(event: Event) -> None:
        inside[event.id] = trace.get_current_span().get_span_context()

    consumer = bus.subscribe(EVENTS, "g-context", handler, **FAST)
    outer = trace.SpanContext(0x1234, 0x5678, is_remote=False, trace_flags=trace.TraceFlags(1))
    with trace.use_span(trace.NonRecordingSpan(outer)):
        consumer.start()  # the task inherits this context; events must not
    await wait_until(lambda: len(inside) == 2, what="both handled")

    assert inside[traced.id].trace_id == remote_trace
    if tracing:
        assert inside[traced.id].span_id != remote_span  # the process span, a child of it
        assert inside[untraced.id].is_valid  # a new root span
    else:
        assert inside[traced.id].span_id == remote_span
        assert not inside[untraced.id].is_valid
    assert inside[untraced.id].trace_id != outer.trace_id


async def test_malformed_entries_go_to_dlq_without_blocking(
    bus: EventBus, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    key = redis_prefix + EVENTS
    seen: list[str] = []

    async def handler(event: Event) -> None:
        seen.append(event.id)

    missing = await redis_client.xadd(key, {"foo": "bar"})
    bad_json_fields = Event(type="x", source="elsewhere").to_fields() | {"data": "{not json"}
    bad_json = await redis_client.xadd(key, bad_json_fields)  # type: ignore[arg-type]
    good = await bus.publish("document.stored", {"ok": True})
    consumer = bus.subscribe(EVENTS, "g-malformed", handler, **FAST)
    consumer.start()
    await wait_until(lambda: seen == [good.id], what="the valid event handled")
    await wait_until(lambda: _dlq_size(bus, 2), what="two dead letters")
    await wait_until(lambda: _pending_is(bus, "g-malformed", 0), what="nothing pending")

    first, second = await bus.dlq_entries()
    assert first.original_entry_id == missing.decode()
    assert first.reason.startswith("malformed: missing fields")
    assert first.fields["foo"] == "bar"  # the original fields are kept
    assert first.deliveries == 1
    assert second.original_entry_id == bad_json.decode()
    assert second.reason.startswith("malformed: data is not JSON")
    assert second.source == "elsewhere"
    assert second.fields["data"] == "{not json"
    assert seen == [good.id]


async def test_batch_handler_acks_whole_batch_or_nothing(bus: EventBus) -> None:
    calls: list[list[Event]] = []

    async def batch(events: list[Event]) -> None:
        calls.append(events)
        if len(calls) == 1:
            raise RuntimeError("flaky downstream")

    published = await bus.publish_many(("log.record", {"i": i}) for i in range(20))
    consumer = bus.subscribe(
        EVENTS, "g-batch", batch, batch_handler=True, batch_size=50, reclaim_idle_ms=1500
    )
    consumer.start()
    await wait_until(lambda: len(calls) == 1, what="the first batch")
    await asyncio.sleep(0.3)  # shorter than the reclaim idle time
    assert await bus.pending_count(EVENTS, "g-batch") == 20  # nothing ACKed
    await wait_until(lambda: len(calls) == 2, what="the retry")
    await wait_until(lambda: _pending_is(bus, "g-batch", 0), what="the batch ACKed")
    assert [e.id for e in calls[0]] == [e.id for e in published]
    assert [e.id for e in calls[1]] == [e.id for e in published]
    assert {e.deliveries for e in calls[0]} == {1}
    assert {e.deliveries for e in calls[1]} == {2}
    await asyncio.sleep(0.3)
    assert len(calls) == 2


async def test_stop_finishes_the_running_handler_and_loses_nothing(bus: EventBus) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    handled: list[int] = []

    async def slow(event: Event) -> None:
        if event.data["i"] == 0:
            started.set()
            await release.wait()
        handled.append(event.data["i"])

    published = await bus.publish_many(("job.queued", {"i": i}) for i in range(10))
    consumer_a = bus.subscribe(EVENTS, "g-stop", slow, consumer="a", batch_size=10, block_ms=100)
    task = consumer_a.start()
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(consumer_a.stop(timeout=5))
    await asyncio.sleep(0.2)
    assert not stopping.done()  # waits for the handler
    release.set()
    t0 = time.monotonic()
    await stopping
    assert time.monotonic() - t0 < 0.5
    assert task.done()
    assert not task.cancelled()
    assert not consumer_a.running
    assert handled == [0]  # fetched but not started: left pending
    pending = await bus.redis.xpending_range(bus.key(EVENTS), "g-stop", "-", "+", 100)
    assert {p["message_id"].decode() for p in pending} == {e.entry_id for e in published[1:]}

    consumer_b = bus.subscribe(EVENTS, "g-stop", slow, consumer="b", batch_size=10, **FAST)
    consumer_b.start()
    await wait_until(lambda: sorted(handled) == list(range(10)), what="the rest handled")
    await wait_until(lambda: _pending_is(bus, "g-stop", 0), what="all ACKed")


async def test_a_handler_can_stop_its_own_consumer(bus: EventBus) -> None:
    handled: list[int] = []

    async def handler(event: Event) -> None:
        handled.append(event.data["i"])
        await consumer.stop()

    await bus.publish_many(("job.queued", {"i": i}) for i in range(3))
    consumer = bus.subscribe(EVENTS, "g-self-stop", handler, **FAST)
    task = consumer.start()
    await asyncio.wait_for(task, 2)
    assert handled == [0]
    assert await bus.pending_count(EVENTS, "g-self-stop") == 2  # the first one was ACKed


async def test_restarted_consumer_resumes_its_own_pending_entries(
    bus: EventBus, redis_client: aioredis.Redis
) -> None:
    hang, hangs = hanging_handler()
    resumed: list[Event] = []

    async def handler(event: Event) -> None:
        resumed.append(event)

    published = await bus.publish_many(("job.queued", {"i": i}) for i in range(5))
    first = bus.subscribe(EVENTS, "g-resume", hangs, consumer="worker-1", block_ms=50)
    first.start()
    await asyncio.wait_for(hang.wait(), 5)
    await cancel(first)
    assert await bus.pending_count(EVENTS, "g-resume") == 5
    await redis_client.xdel(bus.key(EVENTS), published[3].entry_id)  # trimmed meanwhile

    # reclaim would only take them after a minute: the history read must do it
    restarted = bus.subscribe(
        EVENTS, "g-resume", handler, consumer="worker-1", block_ms=50, reclaim_idle_ms=60_000
    )
    t0 = time.monotonic()
    restarted.start()
    await wait_until(lambda: len(resumed) == 4, timeout=3, what="the pending entries resumed")
    await wait_until(lambda: _pending_is(bus, "g-resume", 0), what="all ACKed")
    assert time.monotonic() - t0 < 3
    assert [e.id for e in resumed] == [e.id for i, e in enumerate(published) if i != 3]
    assert {e.deliveries for e in resumed} == {2}
    assert await bus.dlq_entries() == []


async def test_reclaim_acks_and_drops_deleted_entries(
    bus: EventBus, redis_client: aioredis.Redis
) -> None:
    hang, hangs = hanging_handler()
    handled: list[str] = []

    async def handler(event: Event) -> None:
        handled.append(event.id)

    published = await bus.publish_many(("job.queued", {"i": i}) for i in range(3))
    dead = bus.subscribe(EVENTS, "g-deleted", hangs, consumer="dead", block_ms=50)
    dead.start()
    await asyncio.wait_for(hang.wait(), 5)
    await cancel(dead)
    await redis_client.xdel(bus.key(EVENTS), published[0].entry_id, published[2].entry_id)

    other = bus.subscribe(EVENTS, "g-deleted", handler, consumer="other", **FAST)
    other.start()
    await wait_until(lambda: handled == [published[1].id], what="the surviving entry handled")
    await wait_until(lambda: _pending_is(bus, "g-deleted", 0), what="deleted entries ACKed")
    assert await bus.dlq_entries() == []


async def test_from_settings_uses_the_prefix_and_owns_its_client(
    eco_settings: EcoSettings, redis_client: aioredis.Redis
) -> None:
    bus = EventBus.from_settings(eco_settings, "doc-store")
    event = await bus.publish("document.stored", {"id": "d"}, id="fixed-id")
    assert event.id == "fixed-id"
    await bus.close()
    raw = await redis_client.xrange(eco_settings.key(EVENTS))
    assert [r[0].decode() for r in raw] == [event.entry_id]
    assert bus.key(DLQ) == f"{eco_settings.redis_prefix}eco.dlq"


@pytest.mark.slow
async def test_consumer_survives_a_redis_restart_without_spinning(
    private_redis: RedisServer,
) -> None:
    client = aioredis.Redis.from_url(private_redis.url, retry=None, socket_connect_timeout=0.5)
    bus = EventBus(client, SOURCE)
    seen: list[str] = []

    async def handler(event: Event) -> None:
        seen.append(event.id)

    with structlog.testing.capture_logs() as logs:
        consumer = bus.subscribe(EVENTS, "g-restart", handler, **FAST)
        consumer.start()
        first = await bus.publish("a", {})
        await wait_until(lambda: seen == [first.id], what="the first event")
        private_redis.kill()
        await asyncio.sleep(1.5)
        errors = [entry for entry in logs if entry["event"] == "bus_redis_error"]
        assert 1 <= len(errors) <= 12, len(errors)  # backing off, not busy-looping
        private_redis.start()
        second = await bus.publish("b", {})
        await wait_until(lambda: seen == [first.id, second.id], timeout=10, what="after restart")
        await bus.close(timeout=2)
    await client.aclose()


async def test_trim_keeps_what_any_group_still_needs(bus: EventBus) -> None:
    key = bus.key(EVENTS)
    await bus.ensure_group(EVENTS, "fast")
    await bus.ensure_group(EVENTS, "slow")
    await bus.publish_many([("t.x", {"i": i}) for i in range(100)])
    entries = await bus.redis.xrange(key, "-", "+")
    ids = [e[0] for e in entries]
    assert len(ids) == 100

    # "fast" reads and ACKs everything; "slow" has read nothing: nothing may go.
    fast = await bus.redis.xreadgroup("fast", "c1", {key: ">"}, count=100)
    await bus.redis.xack(key, "fast", *[entry_id for entry_id, _ in fast[0][1]])
    assert await bus.trim_consumed(EVENTS) == 0
    assert await bus.redis.xlen(key) == 100

    # "slow" reads 60, ACKs the first 40: entries 40.. are pending or unread, so they stay.
    slow = await bus.redis.xreadgroup("slow", "c2", {key: ">"}, count=60)
    await bus.redis.xack(key, "slow", *[entry_id for entry_id, _ in slow[0][1][:40]])
    assert await bus.trim_consumed(EVENTS) == 40
    remaining = await bus.redis.xrange(key, "-", "+")
    assert [entry_id for entry_id, _ in remaining] == ids[40:]

    # Once every group has ACKed everything, the stream empties.
    await bus.redis.xack(key, "slow", *[entry_id for entry_id, _ in slow[0][1][40:]])
    rest = await bus.redis.xreadgroup("slow", "c2", {key: ">"}, count=100)
    await bus.redis.xack(key, "slow", *[entry_id for entry_id, _ in rest[0][1]])
    assert await bus.trim_consumed(EVENTS) == 60
    assert await bus.redis.xlen(key) == 0


async def test_running_consumers_trim_what_they_consumed(bus: EventBus) -> None:
    seen: list[str] = []

    async def handler(event: Event) -> None:
        seen.append(event.id)

    consumer = bus.subscribe(EVENTS, "trimmer", handler, block_ms=50, reclaim_interval_s=0.1)
    async with consumer:
        await bus.publish_many([("t.y", {"i": i}) for i in range(30)])
        deadline = time.monotonic() + 10
        while (len(seen) < 30 or await bus.redis.xlen(bus.key(EVENTS)) > 0) and (
            time.monotonic() < deadline
        ):
            await asyncio.sleep(0.05)
    assert len(seen) == 30
    assert await bus.redis.xlen(bus.key(EVENTS)) == 0


async def test_trim_leaves_streams_without_groups_alone(bus: EventBus) -> None:
    await bus.publish("t.z", {"i": 1})
    assert await bus.trim_consumed(EVENTS) == 0
    assert await bus.trim_consumed("eco.nothing-here") == 0
    assert await bus.redis.xlen(bus.key(EVENTS)) == 1

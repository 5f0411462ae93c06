"""The transactional outbox on SQLite and PostgreSQL, relayed to a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_shared.bus import EVENTS, Event, EventBus
from eco_shared.db import create_engine
from eco_shared.outbox import OutboxRelay, outbox_table, stage, stage_many
from eco_shared.redis_server import RedisServer

SOURCE = "test-svc"
# Short waits keep the suite quick; the defaults are seconds.
FAST: dict[str, Any] = {"poll_interval_s": 0.1, "backoff_min_s": 0.05, "backoff_max_s": 0.3}


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> sa.Table:
    table = outbox_table("test_outbox")
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    return table


@pytest.fixture
def bus(redis_client: aioredis.Redis, redis_prefix: str) -> EventBus:
    return EventBus(redis_client, SOURCE, prefix=redis_prefix)


async def published(bus: EventBus) -> list[Event]:
    entries = await bus.redis.xrange(bus.key(EVENTS))
    return [Event.from_fields(fields) for _, fields in entries]


async def count_published(bus: EventBus, n: int) -> bool:
    return len(await published(bus)) >= n


async def stage_each(engine: AsyncEngine, table: sa.Table, n: int, start: int = 0) -> list[str]:
    ids = []
    for i in range(start, start + n):
        async with engine.begin() as conn:
            ids.append(await stage(conn, table, "item.added", {"i": i}))
    return ids


async def test_an_event_exists_only_if_its_transaction_committed(
    engine: AsyncEngine, table: sa.Table, bus: EventBus
) -> None:
    relay = OutboxRelay(engine, table, bus, **FAST)

    async def failing_write() -> None:
        async with engine.begin() as conn:
            await relay.stage(conn, "item.added", {"i": "rolled back"})
            raise RuntimeError("write failed")

    with pytest.raises(RuntimeError, match="write failed"):
        await failing_write()
    async with engine.begin() as conn:
        event_id = await relay.stage(conn, "item.added", {"i": 1})
    assert await relay.pending() == 1

    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    [event] = await published(bus)
    assert (event.id, event.type, event.source, event.data) == (
        event_id,
        "item.added",
        SOURCE,
        {"i": 1},
    )
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(table))).one()
    assert row.published_at is not None
    assert row.attempts == 0
    # the event's time is the write's, not the relay's
    assert event.timestamp.replace(tzinfo=None) == row.created_at.replace(tzinfo=None)
    assert await relay.pending() == 0


async def test_the_relay_publishes_in_order_and_in_batches(
    engine: AsyncEngine, table: sa.Table, bus: EventBus
) -> None:
    ids = await stage_each(engine, table, 250)
    relay = OutboxRelay(engine, table, bus, batch_size=100, **FAST)
    relay.start()
    try:
        await wait_until(lambda: count_published(bus, 250), what="250 events")
    finally:
        await relay.stop()
    events = await published(bus)
    assert [e.id for e in events] == ids
    assert [e.data["i"] for e in events] == list(range(250))
    assert relay.published == 250
    assert await relay.pending() == 0


async def test_a_commit_wakes_the_relay_and_a_poll_finds_rows_staged_elsewhere(
    engine: AsyncEngine, table: sa.Table, bus: EventBus
) -> None:
    relay = OutboxRelay(engine, table, bus, poll_interval_s=3600)
    relay.start()
    try:
        await asyncio.sleep(0.2)  # the first (empty) pass is over: only a wake helps now
        async with relay.begin() as conn:
            await relay.stage(conn, "item.added", {"i": "woken"})
        await wait_until(lambda: count_published(bus, 1), what="the woken relay")
    finally:
        await relay.stop()

    polling = OutboxRelay(engine, table, bus, **FAST)
    polling.start()
    try:
        await stage_each(engine, table, 1)  # a plain transaction: nobody notifies
        await wait_until(lambda: count_published(bus, 2), what="the polling relay")
    finally:
        await polling.stop()


async def test_a_row_published_twice_keeps_its_event_id(
    engine: AsyncEngine, table: sa.Table, bus: EventBus
) -> None:
    relay = OutboxRelay(engine, table, bus, **FAST)
    [event_id] = await stage_each(engine, table, 1)
    await relay.relay_once()
    # as if the relay had died between XADD and marking the row
    async with engine.begin() as conn:
        await conn.execute(table.update().values(published_at=None))
    await relay.relay_once()
    assert [e.id for e in await published(bus)] == [event_id, event_id]


async def test_the_event_joins_the_trace_of_the_write(
    engine: AsyncEngine, table: sa.Table, bus: EventBus
) -> None:
    trace_id = 0x0AF7651916CD43DD8448EB211C80319C
    parent = SpanContext(trace_id, 0xB7AD6B7169203331, False, TraceFlags(TraceFlags.SAMPLED))
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
    try:
        await stage_each(engine, table, 1)
    finally:
        otel_context.detach(token)
    await OutboxRelay(engine, table, bus).relay_once()
    [event] = await published(bus)
    assert event.traceparent.split("-")[1] == f"{trace_id:032x}"


async def test_events_staged_together_keep_their_order_and_each_its_own_trace(
    engine: AsyncEngine, table: sa.Table, bus: EventBus
) -> None:
    def context_of(trace_id: int) -> otel_context.Context:
        span = SpanContext(trace_id, 0xB7AD6B7169203331, False, TraceFlags(TraceFlags.SAMPLED))
        return trace.set_span_in_context(NonRecordingSpan(span))

    first, second, current = 0xA1 << 100, 0xB2 << 100, 0xC3 << 100
    token = otel_context.attach(context_of(current))
    try:
        async with engine.begin() as conn:
            ids = await stage_many(
                conn,
                table,
                [
                    ("item.added", {"i": 0}, context_of(first)),
                    ("item.added", {"i": 1}, None),
                    ("item.added", {"i": 2}, context_of(second)),
                ],
            )
    finally:
        otel_context.detach(token)
    assert len(set(ids)) == 3
    assert await OutboxRelay(engine, table, bus).relay_once() == 3
    events = await published(bus)
    assert [(e.id, e.data["i"]) for e in events] == list(zip(ids, range(3), strict=True))
    assert [e.traceparent.split("-")[1] for e in events] == [
        f"{t:032x}" for t in (first, current, second)
    ]
    async with engine.begin() as conn:
        assert await stage_many(conn, table, []) == []
    assert await OutboxRelay(engine, table, bus).relay_once() == 0


async def test_nothing_is_lost_while_redis_is_down(
    engine: AsyncEngine, table: sa.Table, private_redis: RedisServer
) -> None:
    client = aioredis.Redis.from_url(private_redis.url, retry=None, socket_connect_timeout=0.5)
    bus = EventBus(client, SOURCE)
    relay = OutboxRelay(engine, table, bus, **FAST)
    relay.start()
    try:
        first = await stage_each(engine, table, 1)
        await wait_until(lambda: count_published(bus, 1), what="the first event")
        private_redis.stop()
        staged = []
        for i in range(1, 21):
            async with relay.begin() as conn:
                staged.append(await relay.stage(conn, "item.added", {"i": i}))

        async def attempted() -> bool:
            async with engine.connect() as conn:
                query = sa.select(sa.func.max(table.c.attempts))
                return bool((await conn.execute(query)).scalar_one())

        await wait_until(attempted, what="a failed attempt")
        assert await relay.pending() == 20
        async with engine.connect() as conn:
            error = (await conn.execute(sa.select(sa.func.max(table.c.last_error)))).scalar_one()
        assert "Connect" in error
        private_redis.start()
        # the test reads with a client of its own: the relay's pool holds dead connections
        async with aioredis.Redis.from_url(private_redis.url) as fresh:
            reader = EventBus(fresh, SOURCE)
            await wait_until(lambda: count_published(reader, 21), what="every event after")
            assert [e.id for e in await published(reader)] == first + staged
        assert await relay.pending() == 0
    finally:
        await relay.stop()
        await client.aclose()


async def test_published_rows_are_pruned_after_the_retention(
    engine: AsyncEngine, table: sa.Table, bus: EventBus
) -> None:
    await stage_each(engine, table, 3)
    relay = OutboxRelay(engine, table, bus, batch_size=2, retention_s=0)
    await relay.relay_once()  # two of three
    assert await relay.prune() == 2
    async with engine.connect() as conn:
        left = (await conn.execute(sa.select(table.c.published_at))).scalars().all()
    assert left == [None]  # the unpublished row stays
    kept = OutboxRelay(engine, table, bus, retention_s=3600)
    await kept.relay_once()
    assert await kept.prune() == 0


async def test_two_relays_lose_nothing_and_on_postgresql_publish_each_row_once(
    database_url: str, table: sa.Table, bus: EventBus
) -> None:
    engines = [create_engine(database_url), create_engine(database_url)]
    relays = [OutboxRelay(e, table, bus, batch_size=20, **FAST) for e in engines]
    for relay in relays:
        relay.start()
    try:
        batches = await asyncio.gather(
            *(stage_each(engines[k % 2], table, 50, start=50 * k) for k in range(6))
        )
        staged = [event_id for batch in batches for event_id in batch]
        await wait_until(lambda: count_published(bus, 300), what="300 events")
        await asyncio.sleep(0.5)  # a late duplicate would show by now
    finally:
        for relay in relays:
            await relay.stop()
        for engine in engines:
            await engine.dispose()
    counts = Counter(e.id for e in await published(bus))
    assert set(counts) == set(staged)
    if database_url.startswith("postgresql"):
        # rows are claimed FOR UPDATE SKIP LOCKED: the other relay never sees them
        assert max(counts.values()) == 1
        assert sum(r.published for r in relays) == 300

"""A run-status write stages its `run.*` event in its own transaction (the outbox), and the
relay publishes it with the staged id: with Redis stopped the write still commits and the
event is delivered once Redis is back. Real SQLite and PostgreSQL, a real Redis of its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_orchestrator.migrations import VERSION_TABLE
from eco_orchestrator.models import Run
from eco_orchestrator.repository import RunRepository, outbox
from eco_shared.bus import EVENTS, Event, EventBus
from eco_shared.db import create_engine, migrate
from eco_shared.outbox import OutboxRelay
from eco_shared.redis_server import RedisServer

SOURCE = "orchestrator"
PREFIX = "outbox-test:"
# Short waits keep the test quick; the relay's defaults are seconds.
FAST: dict[str, Any] = {"poll_interval_s": 0.1, "backoff_min_s": 0.05, "backoff_max_s": 0.5}


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine, "eco_orchestrator.migrations", version_table=VERSION_TABLE)
    yield engine
    await engine.dispose()


@pytest.fixture
async def bus(private_redis: RedisServer) -> AsyncIterator[EventBus]:
    client = aioredis.Redis.from_url(private_redis.url)
    yield EventBus(client, SOURCE, prefix=PREFIX)
    await client.aclose()


async def staged_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(outbox).order_by(outbox.c.id))).all())


async def published(redis_url: str) -> list[Event]:
    # a client per read: one kept across a restart would fail on its dead connection
    async with aioredis.Redis.from_url(redis_url) as client:
        entries = await client.xrange(f"{PREFIX}{EVENTS}")
    return [Event.from_fields(fields) for _, fields in entries]


async def test_a_status_write_stages_its_event_and_the_relay_publishes_it(
    engine: AsyncEngine, bus: EventBus, private_redis: RedisServer
) -> None:
    repo = RunRepository(engine)  # no relay yet: the event must wait in the outbox
    await repo.add(Run(id="r1", query="q"))
    started = {"run_id": "r1", "executed_by": "w-1", "resumed": False}
    assert await repo.update("r1", status="running", announce=("run.started", started))
    # a write that changes nothing announces nothing
    assert not await repo.update(
        "r1",
        only_if={"queued"},
        status="cancelled",
        announce=("run.cancelled", {"run_id": "r1", "reason": "cancelled"}),
    )

    rows = await staged_rows(engine)
    assert [(r.type, r.data, r.published_at) for r in rows] == [("run.started", started, None)]
    assert (await repo.get("r1")).status == "running"  # type: ignore[union-attr]
    assert await published(private_redis.url) == []

    relay = OutboxRelay(engine, outbox, bus, **FAST)
    relay.start()
    try:
        await wait_until(lambda: _has(private_redis.url, rows[0].event_id), "run.started")
        # a commit through the relay wakes it: no poll to wait for
        done = RunRepository(engine, relay)
        completed = {"run_id": "r1", "workflow": "w", "document_id": "d1"}
        assert await done.update("r1", status="completed", announce=("run.completed", completed))
        await wait_until(lambda: _pending_is(relay, 0), "the outbox drained")
    finally:
        await relay.stop()

    events = await published(private_redis.url)
    staged = await staged_rows(engine)
    assert [(e.id, e.type, e.data, e.source) for e in events] == [
        (r.event_id, r.type, r.data, SOURCE) for r in staged
    ]
    assert [e.type for e in events] == ["run.started", "run.completed"]
    assert all(r.published_at is not None for r in staged)


async def test_with_redis_stopped_the_write_commits_and_its_event_follows_later(
    engine: AsyncEngine, bus: EventBus, private_redis: RedisServer
) -> None:
    relay = OutboxRelay(engine, outbox, bus, **FAST)
    repo = RunRepository(engine, relay)
    relay.start()
    try:
        await repo.add(Run(id="r2", query="q", status="running"))
        private_redis.stop()

        failed = {"run_id": "r2", "error": "boom"}
        assert await repo.update(
            "r2", status="failed", error="boom", announce=("run.failed", failed)
        )
        assert (await repo.get("r2")).status == "failed"  # type: ignore[union-attr]
        # the relay tried and is backing off; the row waits
        await wait_until(lambda: _attempted(engine), "a failed publish attempt")
        assert await relay.pending() == 1

        private_redis.start()
        await wait_until(lambda: _pending_is(relay, 0), "the outbox drained after Redis returned")
    finally:
        await relay.stop()

    [row] = await staged_rows(engine)
    events = await published(private_redis.url)
    # delivery is at least once: a repeat carries the same event id
    assert {(e.id, e.type, e.data["run_id"], e.data["error"]) for e in events} == {
        (row.event_id, "run.failed", "r2", "boom")
    }


async def _has(redis_url: str, event_id: str) -> bool:
    return event_id in {e.id for e in await published(redis_url)}


async def _pending_is(relay: OutboxRelay, n: int) -> bool:
    return await relay.pending() == n


async def _attempted(engine: AsyncEngine) -> bool:
    return any(r.attempts > 0 for r in await staged_rows(engine))

"""What a run writes beside its nodes: `current_node` marks written in the background yet in
order and never after the outcome (real SQLite and PostgreSQL), and a node's events
appended in one round trip, in order (real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_orchestrator._progress import NodeMarks
from eco_orchestrator.events import RunEventLog
from eco_orchestrator.migrations import VERSION_TABLE
from eco_orchestrator.models import Run
from eco_orchestrator.repository import RunRepository
from eco_shared.db import create_engine, migrate


@pytest.fixture
async def repo(database_url: str) -> AsyncIterator[RunRepository]:
    engine: AsyncEngine = create_engine(database_url)
    await migrate(engine, "eco_orchestrator.migrations", version_table=VERSION_TABLE)
    yield RunRepository(engine)
    await engine.dispose()


async def test_marks_land_in_order_and_the_newest_wins(repo: RunRepository) -> None:
    await repo.add(Run(id="m1", query="q", status="running"))
    marks = NodeMarks(repo, "m1")
    names = [f"node-{i}" for i in range(30)]
    for name in names:
        marks.mark(name)  # returns at once: the node does not wait for the write
    await marks.flush()
    run = await repo.get("m1")
    assert run is not None
    assert run.current_node == names[-1]


async def test_marks_made_before_the_outcome_never_overwrite_it(repo: RunRepository) -> None:
    await repo.add(Run(id="m2", query="q", status="running"))
    marks = NodeMarks(repo, "m2")
    for name in ("understand", "analyze", "store"):
        marks.mark(name)
        await asyncio.sleep(0)
    await marks.flush()
    await repo.update("m2", status="completed", current_node=None)
    await asyncio.sleep(0.05)  # any write still in flight would land now
    run = await repo.get("m2")
    assert run is not None
    assert run.status == "completed"
    assert run.current_node is None


async def test_flush_without_marks_returns(repo: RunRepository) -> None:
    await NodeMarks(repo, "none").flush()


async def test_events_appended_together_keep_their_order(redis_url: str, redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        log = RunEventLog(client, redis_prefix, retention_s=60)
        first = await log.append("r1", "node.started", node="a")
        ids = await log.append_many(
            "r1",
            [("tool.call", {"node": "a", "n": i}) for i in range(3)]
            + [("node.finished", {"node": "a"})],
        )
        assert await log.append_many("r1", []) == []
        events = await log.read("r1")
        assert [e["id"] for e in events] == [first, *ids]
        assert [e["type"] for e in events] == ["node.started", *["tool.call"] * 3, "node.finished"]
        assert [e["data"].get("n") for e in events[1:4]] == [0, 1, 2]
        assert 0 < await client.ttl(log.key("r1")) <= 60
    finally:
        await client.aclose()

"""Group commit: creates that arrive together share a transaction, and each is answered
only once it is stored; a reused `Idempotency-Key` fails alone; nothing waiting is lost
at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from eco_doc_store import repository as repo
from eco_doc_store.migrations import PACKAGE, VERSION_TABLE
from eco_doc_store.service import DocStoreService
from eco_doc_store.settings import DocStoreSettings
from eco_shared.auth import Principal
from eco_shared.bus import Event, EventBus
from eco_shared.db import create_engine, migrate
from eco_shared.models.doc_store import DocumentCreate
from eco_shared.outbox import OutboxRelay

CREATES = 24


async def test_concurrent_creates_are_all_stored_searchable_and_announced(
    client: httpx.AsyncClient, redis_url: str, redis_prefix: str
) -> None:
    async def post(i: int, key: str | None = None) -> httpx.Response:
        body = {"title": f"Batch {i}", "format": "txt", "content": f"pelican number{i}"}
        headers = {"Idempotency-Key": key} if key else {}
        return await client.post("/documents", json=body, headers=headers)

    responses = await asyncio.gather(
        *(post(i) for i in range(CREATES)), post(100, "same-key"), post(101, "same-key")
    )
    created = [r.json()["id"] for r in responses[:CREATES]]
    assert all(r.status_code == 201 for r in responses[:CREATES])
    assert len(set(created)) == CREATES
    # the same key for two different bodies: one is stored, the other refused, alone
    assert sorted(r.status_code for r in responses[CREATES:]) == [201, 409]
    for i, document_id in enumerate(created):
        got = await client.get(f"/documents/{document_id}")
        assert got.json()["content"] == f"pelican number{i}"
        found = (await client.get("/documents", params={"q": f"number{i}"})).json()
        assert [d["id"] for d in found["items"]] == [document_id]
    assert (await client.get("/documents", params={"q": "pelican"})).json()["total"] == CREATES + 1
    expected = {*created, next(r.json()["id"] for r in responses[CREATES:] if r.status_code == 201)}
    async with aioredis.Redis.from_url(redis_url) as redis:
        for _ in range(100):
            entries = await redis.xrange(f"{redis_prefix}eco.events")
            events = [Event.from_fields(fields) for _, fields in entries]
            announced = {e.data["document_id"] for e in events if e.type == "document.stored"}
            if expected <= announced:
                break
            await asyncio.sleep(0.1)
    assert announced == expected


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
    yield engine
    await engine.dispose()


async def test_drain_writes_every_create_submitted_before_it(
    engine: AsyncEngine, database_url: str, redis_url: str, redis_prefix: str
) -> None:
    async with aioredis.Redis.from_url(redis_url) as redis:
        relay = OutboxRelay(engine, repo.outbox, EventBus(redis, "doc-store", prefix=redis_prefix))
        settings = DocStoreSettings(database_url=database_url, register_with_discovery=False)
        service = DocStoreService(engine, relay, settings)
        caller = Principal("user:drain", frozenset({"docs:write"}))
        bodies = [
            DocumentCreate(title=f"Drain {i}", format="txt", content=f"drained {i}")
            for i in range(CREATES)
        ]
        tasks = [
            asyncio.create_task(service.create(caller, b, None, "http://doc-store")) for b in bodies
        ]
        await asyncio.sleep(0)  # every create has reached the queue
        await service.creates.drain()
        async with engine.connect() as conn:
            stored = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM documents WHERE owner = 'user:drain'")
                )
            ).scalar_one()
            staged = await relay.pending()
        assert stored == CREATES
        assert staged == CREATES  # each with its event, waiting for the relay
        results = await asyncio.gather(*tasks)
        assert all(created for _, created in results)

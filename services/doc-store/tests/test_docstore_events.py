"""Bus events: `document.stored` / `versioned` / `deleted`, staged in the write's transaction
and published by the outbox relay (in order, so a later write's event marks "all before")."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import redis.asyncio as aioredis

from eco_shared.bus import Event


async def events(redis_client: aioredis.Redis, prefix: str) -> list[Event]:
    entries = await redis_client.xrange(f"{prefix}eco.events")
    return [Event.from_fields(fields) for _, fields in entries]


async def events_before_sentinel(
    client: httpx.AsyncClient, redis_client: aioredis.Redis, prefix: str
) -> list[Event]:
    """Every event published before a sentinel write's own (the relay keeps write order)."""
    body = {"title": "Sentinel", "format": "txt", "content": "x"}
    sentinel = await client.post("/documents", json=body)
    assert sentinel.status_code == 201, sentinel.text
    sentinel_id = sentinel.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen = await events(redis_client, prefix)
        for i, event in enumerate(seen):
            if event.data.get("document_id") == sentinel_id:
                return seen[:i]
        await asyncio.sleep(0.1)
    raise AssertionError("the sentinel's event never arrived")


async def test_writes_publish_one_event_each_after_commit(
    client: httpx.AsyncClient, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    body: dict[str, Any] = {
        "title": "Evented",
        "format": "txt",
        "content": "hello",
        "provenance": {
            "workflow_execution": {"execution_id": "run-ev"},
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
        },
    }
    headers = {"Idempotency-Key": "ev-1"}
    created = (await client.post("/documents", json=body, headers=headers)).json()
    replay = await client.post("/documents", json=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    rejected = await client.post("/documents", json={**body, "format": "docx"})
    assert rejected.status_code == 422
    await client.put(f"/documents/{created['id']}", json={"content": "hello again"})
    await client.delete(f"/documents/{created['id']}")
    await client.delete(f"/documents/{created['id']}")  # already deleted: no second event

    seen = await events_before_sentinel(client, redis_client, redis_prefix)
    assert [e.type for e in seen] == ["document.stored", "document.versioned", "document.deleted"]
    assert all(e.source == "doc-store" for e in seen)
    stored, versioned, deleted = seen
    assert stored.data == {
        "document_id": created["id"],
        "version": 1,
        "title": "Evented",
        "format": "txt",
        "sha256": created["sha256"],
        "size_bytes": 5,
        "execution_id": "run-ev",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
    }
    assert versioned.data["version"] == 2
    assert versioned.data["execution_id"] is None
    assert deleted.data["document_id"] == created["id"]
    # The event announces a committed write: what it names can be read when it arrives
    # (the deletion too: every path of a deleted document answers 404 with `deleted_at`).
    versions = await client.get(f"/documents/{created['id']}/versions")
    assert (versions.status_code, versions.json()["title"]) == (404, "Document deleted")
    assert json.loads(json.dumps(stored.data)) == stored.data

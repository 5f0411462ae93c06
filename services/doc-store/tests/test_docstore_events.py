"""Bus events: `document.stored` / `versioned` / `deleted`, published after the commit."""

from __future__ import annotations

import json
from typing import Any

import httpx
import redis.asyncio as aioredis

from eco_shared.bus import Event


async def events(redis_client: aioredis.Redis, prefix: str) -> list[Event]:
    entries = await redis_client.xrange(f"{prefix}eco.events")
    return [Event.from_fields(fields) for _, fields in entries]


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

    seen = await events(redis_client, redis_prefix)
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
    # The event announces a committed write: what it names can be read when it arrives.
    version = await client.get(f"/documents/{created['id']}/versions")
    assert version.json()["total"] == 2
    assert json.loads(json.dumps(stored.data)) == stored.data

"""Bus events: `document.stored` / `versioned` / `deleted`, staged in the write's transaction
and published by the outbox relay (in order, so a later write's event marks "all before");
a deletion is also recorded on `eco.audit` (whose document, deleted by whom)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import redis.asyncio as aioredis

from eco_shared.auth import service_subject
from eco_shared.bus import Event
from eco_shared.testing.auth import TestAuth, token


async def events(
    redis_client: aioredis.Redis, prefix: str, stream: str = "eco.events"
) -> list[Event]:
    entries = await redis_client.xrange(f"{prefix}{stream}")
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
        "owner": "user:test",
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
    assert (versioned.data["owner"], deleted.data["owner"]) == ("user:test", "user:test")
    # The event announces a committed write: what it names can be read when it arrives
    # (the deletion too: every path of a deleted document answers 404 with `deleted_at`).
    versions = await client.get(f"/documents/{created['id']}/versions")
    assert (versions.status_code, versions.json()["title"]) == (404, "Document deleted")
    assert json.loads(json.dumps(stored.data)) == stored.data


async def audit_records(
    redis_client: aioredis.Redis, prefix: str, document_id: str, timeout_s: float = 30
) -> list[Event]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = [
            e
            for e in await events(redis_client, prefix, "eco.audit")
            if e.data.get("document_id") == document_id
        ]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_deletion_is_audited_with_the_owner_and_who_deleted(
    client: httpx.AsyncClient, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    alice = TestAuth("doc-store", ["docs:read", "docs:write"], subject="user:alice")
    body = {"title": "Audited", "format": "txt", "content": "x"}
    own = (await client.post("/documents", json=body, auth=alice)).json()
    other = (await client.post("/documents", json=body, auth=alice)).json()
    # alice deletes her own, through the orchestrator acting for her
    delegated = token(
        "doc-store",
        ["docs:write"],
        subject="user:alice",
        act={"sub": service_subject("orchestrator")},
        grant="grant-1",
    )
    deleting = await client.delete(
        f"/documents/{own['id']}", headers={"Authorization": f"Bearer {delegated}"}, auth=None
    )
    assert deleting.status_code == 204
    # an admin deletes the other; a refused delete (not hers to see) records nothing
    bob = TestAuth("doc-store", ["docs:read", "docs:write"], subject="user:bob")
    assert (await client.delete(f"/documents/{other['id']}", auth=bob)).status_code == 404
    assert (await client.delete(f"/documents/{other['id']}")).status_code == 204
    assert (await client.delete(f"/documents/{other['id']}")).status_code == 204  # no second

    [first] = await audit_records(redis_client, redis_prefix, own["id"])
    assert first.type == "document.deleted"
    assert first.source == "doc-store"
    assert first.data["owner"] == "user:alice"
    assert first.data["by"] == "user:alice"
    assert first.data["acting_chain"] == ["user:alice", service_subject("orchestrator")]
    assert first.data["grant_id"] == "grant-1"
    await asyncio.sleep(0.5)  # a second record would have been relayed by now
    [second] = await audit_records(redis_client, redis_prefix, other["id"])
    assert (second.data["owner"], second.data["by"]) == ("user:alice", "user:test")
    assert delegated not in json.dumps(first.data)  # never a secret in the audit stream

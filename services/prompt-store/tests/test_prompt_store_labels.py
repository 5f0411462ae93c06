"""Labels against a real process (SQLite and PostgreSQL): compare-and-swap moves (two racing
moves: exactly one wins), `latest`, history, rollback; `prompt.label_moved` reaching
`eco.events` through the outbox, and the SSE watch feed delivering it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import redis.asyncio as aioredis

from eco_shared.bus import Event
from eco_shared.sse import aiter_sse
from eco_shared.testing.auth import TestAuth


async def test_a_label_moves_only_from_the_expected_version(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await new_prompt(name, "one", "two", "three")
    path = f"/prompts/{name}/labels/production"
    created = await client.put(path, json={"version": 1, "expected_version": None, "reason": "go"})
    assert created.status_code == 200, created.text
    label = created.json()
    assert (label["version"], label["previous_version"], label["moved_by"]) == (
        1,
        None,
        "user:test",
    )
    assert label["reason"] == "go"
    # null expects the label not to exist: it does now
    again = await client.put(path, json={"version": 2, "expected_version": None})
    assert again.status_code == 409
    assert again.json()["current_version"] == 1
    stale = await client.put(path, json={"version": 3, "expected_version": 2})
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "application/problem+json"
    assert (await client.get(path)).json()["version"] == 1  # nothing moved
    moved = await client.put(path, json={"version": 3, "expected_version": 1})
    assert (moved.status_code, moved.json()["previous_version"]) == (200, 1)
    assert (await client.get(path)).json()["template"] == "three"
    missing = await client.put(path, json={"version": 9, "expected_version": 3})
    assert missing.status_code == 404
    latest = await client.put(
        f"/prompts/{name}/labels/latest", json={"version": 1, "expected_version": 3}
    )
    assert latest.status_code == 400
    assert (await client.get(f"/prompts/{name}")).json()["labels"] == {"latest": 3, "production": 3}
    bad = await client.put(path, json={"version": 1})
    assert bad.status_code == 422  # expected_version must be said, even as null


async def test_two_racing_moves_exactly_one_wins(
    client: httpx.AsyncClient, name: str, new_prompt: Any
) -> None:
    await new_prompt(name, "base", "left", "right")
    path = f"/prompts/{name}/labels/prod"
    assert (
        await client.put(path, json={"version": 1, "expected_version": None})
    ).status_code == 200
    for round_ in range(5):
        current = (await client.get(path)).json()["version"]
        targets = [v for v in (1, 2, 3) if v != current]
        answers = await asyncio.gather(
            *(client.put(path, json={"version": v, "expected_version": current}) for v in targets)
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 409], (round_, [a.text for a in answers])
        [winner] = [a.json() for a in answers if a.status_code == 200]
        assert (await client.get(path)).json()["version"] == winner["version"]
    history = (await client.get(f"{path}/history", params={"limit": 100})).json()["items"]
    assert len(history) == 6  # the creation and one win per round


async def test_history_and_rollback(client: httpx.AsyncClient, name: str, new_prompt: Any) -> None:
    await new_prompt(name, "one", "two", "three")
    path = f"/prompts/{name}/labels/prod"
    assert (await client.post(f"{path}/rollback", json={})).status_code == 404
    await client.put(path, json={"version": 1, "expected_version": None, "reason": "first"})
    nothing = await client.post(f"{path}/rollback", json={})
    assert nothing.status_code == 409  # created by its only move: nowhere to go back to
    await client.put(path, json={"version": 3, "expected_version": 1, "reason": "ship 3"})
    stale = await client.post(f"{path}/rollback", json={"expected_version": 1})
    assert stale.status_code == 409
    back = await client.post(f"{path}/rollback", json={"reason": "3 is broken"})
    assert back.status_code == 200, back.text
    assert (back.json()["version"], back.json()["previous_version"]) == (1, 3)
    assert (await client.get(path)).json()["version"] == 1

    page = await client.get(f"{path}/history", params={"limit": 2})
    moves = page.json()["items"]
    assert [(m["from_version"], m["to_version"], m["reason"]) for m in moves] == [
        (3, 1, "3 is broken"),
        (1, 3, "ship 3"),
    ]
    assert all(m["by"] == "user:test" and m["label"] == "prod" for m in moves)
    rest = await client.get(f"{path}/history", params={"cursor": page.json()["next_cursor"]})
    assert [(m["from_version"], m["to_version"]) for m in rest.json()["items"]] == [(None, 1)]
    latest = (await client.get(f"/prompts/{name}/labels/latest/history")).json()["items"]
    assert [(m["from_version"], m["to_version"]) for m in latest] == [(2, 3), (1, 2), (None, 1)]
    assert (await client.get(f"/prompts/{name}/labels/none/history")).status_code == 404
    assert (
        await client.post(f"/prompts/{name}/labels/latest/rollback", json={})
    ).status_code == 400


async def _events_of(redis_client: aioredis.Redis, prefix: str, name: str) -> list[Event]:
    entries = await redis_client.xrange(f"{prefix}eco.events")
    events = [Event.from_fields(fields) for _, fields in entries]
    return [e for e in events if e.type == "prompt.label_moved" and e.data.get("name") == name]


async def test_label_moves_reach_eco_events_through_the_outbox(
    client: httpx.AsyncClient, name: str, new_prompt: Any, store: Any, redis_url: str
) -> None:
    [v1, _] = await new_prompt(name, "one", "two")
    path = f"/prompts/{name}/labels/prod"
    await client.put(path, json={"version": 1, "expected_version": None, "reason": "launch"})
    refused = await client.put(path, json={"version": 2, "expected_version": 2})
    assert refused.status_code == 409  # a refused move publishes nothing
    redis_client = aioredis.Redis.from_url(redis_url)
    try:
        for _ in range(600):
            events = await _events_of(redis_client, store.prefix, name)
            if len(events) == 3:
                break
            await asyncio.sleep(0.05)
        assert [(e.data["label"], e.data["version"]) for e in events] == [
            ("latest", 1),
            ("latest", 2),
            ("prod", 1),
        ]
        prod = events[-1]
        assert prod.source == "prompt-store"
        assert prod.data == {
            "name": name,
            "label": "prod",
            "version": 1,
            "previous_version": None,
            "sha256": v1["sha256"],
            "by": "user:test",
            "reason": "launch",
        }
        await asyncio.sleep(0.3)
        assert len(await _events_of(redis_client, store.prefix, name)) == 3
    finally:
        await redis_client.aclose()


async def test_watch_delivers_label_moves_and_resumes(
    client: httpx.AsyncClient, name: str, new_prompt: Any, store: Any
) -> None:
    await new_prompt(name, "one", "two")
    path = f"/prompts/{name}/labels/prod"
    auth = TestAuth("prompt-store", ["prompts:read"])
    async with httpx.AsyncClient(base_url=store.url, auth=auth, timeout=30) as reader:

        async def moves(count: int, **params: str) -> list[Any]:
            seen = []
            query = {"name": name, **params}
            async with reader.stream("GET", "/prompts/watch", params=query) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                async for event in aiter_sse(response.aiter_lines()):
                    if event.event == "prompt.label_moved":
                        seen.append(event)
                        if len(seen) == count:
                            break
            return seen

        # from the stream's start: the moves made while it connects are replayed, the later
        # ones arrive live; either way each comes once, in order
        watching = asyncio.create_task(asyncio.wait_for(moves(4, since="0"), 60))
        await client.put(path, json={"version": 1, "expected_version": None})
        await client.put(path, json={"version": 2, "expected_version": 1})
        seen = await watching
        bodies = [json.loads(e.data) for e in seen]
        assert [(b["data"]["label"], b["data"]["version"]) for b in bodies] == [
            ("latest", 1),
            ("latest", 2),
            ("prod", 1),
            ("prod", 2),
        ]
        assert (bodies[-1]["type"], bodies[-1]["data"]["previous_version"]) == (
            "prompt.label_moved",
            1,
        )
        await client.put(path, json={"version": 1, "expected_version": 2})
        [resumed] = await asyncio.wait_for(moves(1, since=seen[-1].id), 60)
        assert json.loads(resumed.data)["data"]["version"] == 1
        assert resumed.id != seen[-1].id
        async with reader.stream(
            "GET", "/prompts/watch", headers={"Last-Event-ID": seen[-2].id}, params={"name": name}
        ) as response:
            async for event in aiter_sse(response.aiter_lines()):
                if event.event == "prompt.label_moved":
                    assert event.id == seen[-1].id  # Last-Event-ID resumes after that entry
                    break
        bad = await reader.get("/prompts/watch", headers={"Last-Event-ID": "nope"})
        assert bad.status_code == 422

"""Sessions in a real Redis: the namespace, the idle and the absolute expiry."""

from __future__ import annotations

import asyncio
import hashlib
import time

import redis.asyncio as aioredis

from eco_console.repository import SessionRepository


async def _until_gone(sessions: SessionRepository, session_id: str, *, touch: bool) -> float:
    """Seconds until the session is gone; `touch` keeps using it meanwhile."""
    started = time.monotonic()
    while time.monotonic() - started < 15:
        if touch:
            if await sessions.get(session_id) is None:
                return time.monotonic() - started
        elif not await sessions.redis.exists(sessions._key(session_id)):
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError("the session did not expire")


async def test_a_session_is_stored_under_the_hash_of_its_id(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    sessions = SessionRepository(
        redis_client, f"{redis_prefix}console:session:", idle_s=60, absolute_s=600
    )
    created = await sessions.create(
        api_key="eco_k", subject="user:a", key_id="k1", scopes=["docs:read"]
    )
    keys = [k.decode() async for k in redis_client.scan_iter(match=f"{redis_prefix}*")]
    assert keys == [
        f"{redis_prefix}console:session:{hashlib.sha256(created.id.encode()).hexdigest()}"
    ]
    assert created.id not in keys[0]
    again = await sessions.get(created.id)
    assert again is not None
    assert (again.subject, again.scopes, again.csrf) == ("user:a", ("docs:read",), created.csrf)
    assert 0 < await redis_client.ttl(keys[0]) <= 60
    assert await sessions.get("not-a-session") is None
    await sessions.delete(created.id)
    assert await sessions.get(created.id) is None


async def test_an_unused_session_ends_after_the_idle_expiry(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    sessions = SessionRepository(redis_client, f"{redis_prefix}s:", idle_s=1, absolute_s=600)
    created = await sessions.create(api_key="eco_k", subject="user:a", key_id="", scopes=[])
    await _until_gone(sessions, created.id, touch=False)
    assert await sessions.get(created.id) is None


async def test_a_used_session_still_ends_at_the_absolute_expiry(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    sessions = SessionRepository(redis_client, f"{redis_prefix}s:", idle_s=60, absolute_s=2)
    created = await sessions.create(api_key="eco_k", subject="user:a", key_id="", scopes=[])
    assert await sessions.get(created.id) is not None
    await _until_gone(sessions, created.id, touch=True)  # used all along, and still gone


async def test_the_api_key_is_sealed_for_its_session_id_and_redis_key(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    sessions = SessionRepository(redis_client, f"{redis_prefix}s:", idle_s=60, absolute_s=600)
    api_key = "eco_secret_key_material_0123456789"
    created = await sessions.create(api_key=api_key, subject="user:a", key_id="k1", scopes=[])
    stored = await redis_client.hgetall(sessions._key(created.id))
    assert b"api_key" not in stored
    for value in stored.values():
        assert api_key.encode() not in value
        assert b"secret_key_material" not in value
    assert created.id.encode() not in b"".join(stored.values())
    opened = await sessions.get(created.id)
    assert opened is not None
    assert opened.api_key == api_key


async def test_a_hash_copied_under_another_session_id_does_not_open(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    sessions = SessionRepository(redis_client, f"{redis_prefix}s:", idle_s=60, absolute_s=600)
    victim = await sessions.create(api_key="eco_victim", subject="user:v", key_id="", scopes=[])
    thief = await sessions.create(api_key="eco_thief", subject="user:t", key_id="", scopes=[])
    copied = await redis_client.hgetall(sessions._key(victim.id))
    await redis_client.delete(sessions._key(thief.id))
    await redis_client.hset(sessions._key(thief.id), mapping=copied)
    assert await sessions.get(thief.id) is None
    assert not await redis_client.exists(sessions._key(thief.id))  # dropped, not retried
    victim_again = await sessions.get(victim.id)
    assert victim_again is not None
    assert victim_again.api_key == "eco_victim"


async def test_an_altered_hash_does_not_open(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    sessions = SessionRepository(redis_client, f"{redis_prefix}s:", idle_s=60, absolute_s=600)
    first = await sessions.create(api_key="eco_k", subject="user:a", key_id="", scopes=[])
    key = sessions._key(first.id)
    sealed = (await redis_client.hget(key, "api_key_sealed")).decode()
    flipped = sealed[:-4] + ("AAAA" if sealed[-4:] != "AAAA" else "BBBB")
    await redis_client.hset(key, "api_key_sealed", flipped)
    assert await sessions.get(first.id) is None
    # a sound ciphertext with a plain field changed beside it (more scopes) does not open
    second = await sessions.create(api_key="eco_k", subject="user:a", key_id="", scopes=[])
    await redis_client.hset(sessions._key(second.id), "scopes", "admin")
    assert await sessions.get(second.id) is None
    third = await sessions.create(api_key="eco_k", subject="user:a", key_id="", scopes=[])
    await redis_client.hset(sessions._key(third.id), "api_key_sealed", "not base64 !")
    assert await sessions.get(third.id) is None

"""The Redis ACLs `eco up` writes, held against a real redis-server of this test's own (even
when the other tests use ECO_TEST_REDIS_URL): each service's user does what that service
does (with the real `EventBus`, consumer groups and pub/sub) and nothing it must not."""

from __future__ import annotations

import asyncio
import secrets
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, NoPermissionError

from eco_cli import acl
from eco_shared.bus import Event, EventBus
from eco_shared.redis_server import RedisServer

PREFIX = "t[1]:"  # glob characters in the prefix must not widen anyone's access
SERVICES = [
    "discovery",
    "doc-store",
    "llm-gateway",
    "log-collector",
    "orchestrator",
    "prompt-store",
    "notebook",
]
MASTER = secrets.token_bytes(32)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    root = tmp_path_factory.mktemp("acl")
    aclfile = acl.write_acl(root / "redis.acl", MASTER, SERVICES, PREFIX)
    admin = (acl.ADMIN_USER, acl.password(MASTER, acl.ADMIN_USER))
    with RedisServer(root / "redis", aclfile=aclfile, auth=admin) as started:
        yield started


def _url(server: RedisServer, user: str) -> str:
    return acl.with_credentials(server.url, user, acl.password(MASTER, user))


def _sync(server: RedisServer, user: str) -> redis.Redis:
    return redis.Redis.from_url(_url(server, user))


@pytest.fixture
async def bus_for(server: RedisServer) -> AsyncIterator[dict[str, EventBus]]:
    """An EventBus per service, each on its own user's connection."""
    buses = {
        name: EventBus(aioredis.Redis.from_url(_url(server, name)), name, prefix=PREFIX)
        for name in SERVICES
    }
    yield buses
    for bus in buses.values():
        await bus.close()
        await bus.redis.aclose()


def _refused(call: object) -> None:
    with pytest.raises(NoPermissionError):
        call()  # type: ignore[operator]


def test_the_file_holds_no_password_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    path = acl.write_acl(tmp_path / "redis.acl", MASTER, SERVICES, PREFIX)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    for user in [*SERVICES, acl.ADMIN_USER]:
        assert acl.password(MASTER, user) not in text
        assert f"user {user} " in text
    assert "user default reset resetchannels off" in text.splitlines()


def test_nobody_gets_in_without_a_password(server: RedisServer) -> None:
    with pytest.raises(AuthenticationError):
        redis.Redis.from_url(server.url).ping()  # the default user is off
    with pytest.raises(AuthenticationError):
        redis.Redis.from_url(acl.with_credentials(server.url, "doc-store", "guess")).ping()
    health = redis.Redis.from_url(acl.with_credentials(server.url, acl.HEALTHCHECK_USER, "any"))
    assert health.ping()
    _refused(lambda: health.get(f"{PREFIX}eco.events"))


def test_doc_store_cannot_touch_the_run_queue_discovery_or_the_issuer(server: RedisServer) -> None:
    doc_store = _sync(server, "doc-store")
    _refused(lambda: doc_store.xadd(f"{PREFIX}eco.runs", {"type": "run.queued"}))
    _refused(lambda: doc_store.xrange(f"{PREFIX}eco.runs"))
    _refused(lambda: doc_store.hset(f"{PREFIX}discovery:inst:x", "name", "doc-store"))
    _refused(lambda: doc_store.hgetall(f"{PREFIX}auth:key:x"))
    _refused(lambda: doc_store.set(f"{PREFIX}llm-gateway:cache:x", "1"))
    _refused(lambda: doc_store.publish(f"{PREFIX}eco.orchestrator.cancel", "run-1"))
    # the shared streams without this deployment's prefix are someone else's
    _refused(lambda: doc_store.xadd("eco.events", {"type": "x"}))
    # and no command that reads or changes the whole server
    for command in (("KEYS", "*"), ("INFO",), ("CONFIG", "GET", "*"), ("FLUSHDB",)):
        _refused(lambda command=command: doc_store.execute_command(*command))


async def test_every_service_publishes_ships_logs_and_hears_revocations(
    server: RedisServer, bus_for: dict[str, EventBus]
) -> None:
    for name, bus in bus_for.items():
        event = await bus.publish("test.published", {"by": name})
        assert event.entry_id
        await bus.publish("auth.denied", {"by": name}, stream=acl.AUDIT)
        await bus.redis.xadd(f"{PREFIX}eco.logs", {"message": name})
        await bus.redis.hincrby(f"{PREFIX}eco.logs.dropped", name, 1)
        await bus.redis.set(f"{PREFIX}{name}:own", "1")  # its own namespace
    listener = aioredis.Redis.from_url(_url(server, "orchestrator"))
    async with listener.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(f"{PREFIX}eco.auth.revocations")
        # the issuer announces a revoked key; every service may listen
        assert await bus_for["discovery"].redis.publish(f"{PREFIX}eco.auth.revocations", "k1")
        assert await _next_message(pubsub) == b"k1"
    await listener.aclose()


async def _next_message(pubsub: aioredis.client.PubSub) -> bytes:
    async def first() -> bytes:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                return bytes(message["data"])

    return await asyncio.wait_for(first(), timeout=10)


async def _consume_one(bus: EventBus, stream: str, group: str, producer: EventBus) -> Event:
    """Publish one event as `producer`; the same event as `bus`'s consumer group got it."""
    got: dict[str, Event] = {}

    async def handle(event: Event) -> None:
        got[event.id] = event

    consumer = bus.subscribe(stream, group, handle, block_ms=50, reclaim_interval_s=0.05)
    async with consumer:
        sent = await producer.publish("test.consumed", {"n": 1}, stream=stream)
        async with asyncio.timeout(10):
            while sent.id not in got:
                await asyncio.sleep(0.02)
    assert await bus.pending_count(stream, group) == 0  # handled and ACKed
    return got[sent.id]


async def test_the_orchestrator_alone_runs_the_run_queue(
    server: RedisServer, bus_for: dict[str, EventBus]
) -> None:
    orchestrator = bus_for["orchestrator"]
    event = await _consume_one(orchestrator, "eco.runs", "orchestrator", orchestrator)
    assert event.type == "test.consumed"
    assert await orchestrator.pending_count("eco.runs", "orchestrator") == 0
    redis_ = orchestrator.redis
    key = f"{PREFIX}eco.orchestrator.run-events:r1"
    await redis_.xadd(key, {"type": "run.started"})
    await redis_.expire(key, 60)
    await redis_.set(f"{PREFIX}eco.orchestrator.cancelled:r1", "1", ex=60)
    async with redis_.pubsub() as pubsub:
        await pubsub.subscribe(f"{PREFIX}eco.orchestrator.cancel")
        await redis_.publish(f"{PREFIX}eco.orchestrator.cancel", "r1")
        assert await _next_message(pubsub) == b"r1"
    for other in (
        "doc-store",
        "llm-gateway",
        "log-collector",
        "discovery",
        "prompt-store",
        "notebook",
    ):
        with pytest.raises(NoPermissionError):
            await bus_for[other].publish("run.queued", {"run_id": "x"}, stream="eco.runs")


async def test_the_log_collector_consumes_the_shared_streams(
    bus_for: dict[str, EventBus],
) -> None:
    collector = bus_for["log-collector"]
    for stream in ("eco.logs", "eco.events", acl.AUDIT):
        event = await _consume_one(collector, stream, "log-collector", bus_for["doc-store"])
        assert event.source == "doc-store"
    await collector.redis.hset(f"{PREFIX}eco.audit.head", mapping={"seq": "1"})
    await collector.redis.xadd(f"{PREFIX}eco.dlq", {"type": "dead"})
    with pytest.raises(NoPermissionError):
        await collector.redis.xadd(f"{PREFIX}eco.runs", {"type": "x"})
    # a producer that is not the collector cannot form a group on its streams' failures
    with pytest.raises(NoPermissionError):
        await bus_for["doc-store"].redis.hset(
            f"{PREFIX}eco.bus.failures:eco.logs:log-collector", "1-0", "x"
        )


async def test_the_prompt_store_consumes_eco_events_and_dead_letters_what_fails(
    server: RedisServer, bus_for: dict[str, EventBus]
) -> None:
    store = bus_for["prompt-store"]
    # run outcomes come from the orchestrator on eco.events, through its own group
    event = await _consume_one(store, "eco.events", "prompt-store", bus_for["orchestrator"])
    assert event.source == "orchestrator"

    # a handler that keeps failing: its reason kept beside the group, then eco.dlq
    async def fail(event: Event) -> None:
        raise RuntimeError("no such experiment")

    consumer = store.subscribe(
        "eco.events",
        "prompt-store-outcomes",
        fail,
        block_ms=50,
        reclaim_idle_ms=1,
        reclaim_interval_s=0.05,
        max_deliveries=1,
    )
    admin = aioredis.Redis.from_url(server.admin_url)
    async with consumer:
        sent = await bus_for["orchestrator"].publish("run.completed", {"run_id": "r-dead"})

        async def dead_letters() -> list[dict[bytes, bytes]]:
            return [fields for _, fields in await admin.xrange(f"{PREFIX}eco.dlq")]

        async with asyncio.timeout(15):
            while not any(sent.id.encode() in b"".join(f.values()) for f in await dead_letters()):
                await asyncio.sleep(0.05)
    assert await store.pending_count("eco.events", "prompt-store-outcomes") == 0
    await admin.aclose()

    redis_ = store.redis
    for touch in (
        lambda: redis_.xadd(f"{PREFIX}eco.runs", {"type": "run.queued"}),
        lambda: redis_.xrange(f"{PREFIX}eco.runs"),
        lambda: redis_.xreadgroup("orchestrator", "c", {f"{PREFIX}eco.runs": ">"}),
        lambda: redis_.hgetall(f"{PREFIX}auth:key:x"),
        lambda: redis_.sadd(f"{PREFIX}auth:keys", "key-1"),
        lambda: redis_.hset(f"{PREFIX}eco.bus.failures:eco.logs:log-collector", "1-0", "x"),
        lambda: redis_.hset(f"{PREFIX}eco.audit.head", "seq", "1"),
        lambda: redis_.hset(f"{PREFIX}discovery:inst:x", "name", "x"),
        lambda: redis_.publish(f"{PREFIX}eco.orchestrator.cancel", "r1"),
    ):
        with pytest.raises(NoPermissionError):
            await touch()
    # and the doc store, which only produces on eco.events, cannot write dead letters
    with pytest.raises(NoPermissionError):
        await bus_for["doc-store"].redis.xadd(f"{PREFIX}eco.dlq", {"type": "dead"})


async def test_discovery_and_the_gateway_keep_to_their_namespaces(
    bus_for: dict[str, EventBus],
) -> None:
    discovery = bus_for["discovery"].redis
    await discovery.hset(f"{PREFIX}discovery:inst:a", "name", "a")
    await discovery.sadd(f"{PREFIX}auth:keys", "key-1")
    script = discovery.register_script("return redis.call('HGET', KEYS[1], 'name')")
    assert await script(keys=[f"{PREFIX}discovery:inst:a"]) == b"a"
    gateway = bus_for["llm-gateway"].redis
    await gateway.set(f"{PREFIX}llm-gateway:cache:x", "1", ex=60)
    with pytest.raises(NoPermissionError):
        await gateway.hgetall(f"{PREFIX}discovery:inst:a")
    with pytest.raises(NoPermissionError):
        await gateway.smembers(f"{PREFIX}auth:keys")
    with pytest.raises(NoPermissionError):  # a script cannot reach what its user cannot
        await gateway.eval("return redis.call('SMEMBERS', KEYS[1])", 1, f"{PREFIX}auth:keys")
    notebook = bus_for["notebook"].redis  # a service made from the template
    await notebook.hset(f"{PREFIX}notebook:notes", "n1", "{}")
    with pytest.raises(NoPermissionError):
        await notebook.hset(f"{PREFIX}llm-gateway:notes", "n1", "{}")


def test_eco_itself_reaches_everything(server: RedisServer) -> None:
    admin = redis.Redis.from_url(server.admin_url)
    assert admin.config_get("appendonly")["appendonly"] == "yes"
    admin.xadd(f"{PREFIX}eco.runs", {"type": "x"})
    admin.hset(f"{PREFIX}auth:key:x", "name", "x")
    users = {u.decode() if isinstance(u, bytes) else u for u in admin.acl_users()}
    assert users == {"default", "eco", "healthcheck", *SERVICES}


def test_a_service_cannot_take_an_eco_users_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be named"):
        acl.acl_text(MASTER, ["eco"])

"""Event bus throughput: raw pipelined XADD against the bus end to end (publish + handled).

    uv run python bench/bus.py [--events 50000] [--redis-url URL] [--same-process]

Without a URL it uses `ECO_BENCH_REDIS_URL` or `ECO_REDIS_URL`, else an embedded
redis-server. Streams get a random prefix and are deleted afterwards. The embedded server
runs with Redis ACLs as `eco up` writes them (`eco_cli.acl`: one user per service, the
default user off): the publisher and the raw writer connect as `doc-store`, the subscriber
as `log-collector`, each reaching only its own keys. A given URL is used as it is.

(a) raw: redis-py pipelined XADD of envelope-sized entries, batches of 100.
(b) bus: `publish_many` batches of 100 while a subscriber (trivial handler) consumes them,
    timed from the first publish until all N are handled and none is pending. The
    subscriber runs in its own process, as a consuming service would; `--same-process`
    runs it on the publisher's event loop instead (both share one CPU core then).
The ratio bus/raw is judged against the target 0.3.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import redis.asyncio as aioredis
from _harness import cleanup, quiet_logs

from eco_cli import acl
from eco_shared.bus import EVENTS, Event, EventBus
from eco_shared.redis_server import RedisServer

TARGET = 0.3
BATCH = 100
GROUP = "bench"
PUBLISHER = "doc-store"  # Redis users (and the raw key's namespace) on the embedded server
SUBSCRIBER = "log-collector"


@dataclass(frozen=True)
class Urls:
    """Who connects with which URL: the publisher (and raw writer), the subscriber, clean-up."""

    publisher: str
    subscriber: str
    admin: str
    users: str  # what the printout says of them


def sample_data(i: int) -> dict[str, object]:
    return {"document_id": f"doc-{i}", "version": 1, "title": "A modest document title"}


async def bench_raw(url: str, key: str, events: int) -> float:
    """Events/s of redis-py pipelined XADD of envelope-sized entries, batches of 100."""
    client = aioredis.Redis.from_url(url)
    fields = Event(type="document.stored", source="bench", data=sample_data(0)).to_fields()
    try:
        start = time.perf_counter()
        for offset in range(0, events, BATCH):
            pipe = client.pipeline(transaction=False)
            for _ in range(min(BATCH, events - offset)):
                pipe.xadd(key, fields, maxlen=1_000_000, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()
        return events / (time.perf_counter() - start)
    finally:
        await client.aclose()


async def subscribe(url: str, prefix: str, events: int, ready: asyncio.Event) -> float:
    """Consume until `events` are handled and ACKed; return the monotonic time it ended."""
    bus = EventBus(aioredis.Redis.from_url(url), "bench-subscriber", prefix=prefix)
    handled = 0
    done = asyncio.Event()

    async def handler(event: Event) -> None:
        nonlocal handled
        handled += 1
        if handled == events:
            done.set()

    consumer = bus.subscribe(EVENTS, GROUP, handler, batch_size=BATCH, block_ms=100)
    await consumer.ensure_group()
    consumer.start()
    ready.set()
    try:
        await asyncio.wait_for(done.wait(), timeout=max(120.0, events / 500))
        while await bus.pending_count(EVENTS, GROUP):  # the last batch's ACK
            await asyncio.sleep(0.001)
        return time.monotonic()
    finally:
        await consumer.stop()
        await bus.redis.aclose()


def subscriber_process(url: str, prefix: str, events: int, conn: Connection) -> None:
    quiet_logs()

    async def main() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(subscribe(url, prefix, events, ready))
        await ready.wait()
        conn.send("ready")
        conn.send(await task)

    asyncio.run(main())


async def publish_all(url: str, prefix: str, events: int) -> float:
    """Publish `events` in batches; return the monotonic time of the first publish."""
    bus = EventBus(aioredis.Redis.from_url(url), "bench-publisher", prefix=prefix)
    try:
        start = time.monotonic()
        for offset in range(0, events, BATCH):
            size = min(BATCH, events - offset)
            await bus.publish_many(
                ("document.stored", sample_data(offset + i)) for i in range(size)
            )
        return start
    finally:
        await bus.redis.aclose()


async def bench_bus_same_process(urls: Urls, prefix: str, events: int) -> float:
    ready = asyncio.Event()
    subscriber = asyncio.create_task(subscribe(urls.subscriber, prefix, events, ready))
    await ready.wait()
    start = await publish_all(urls.publisher, prefix, events)
    return events / (await subscriber - start)


async def bench_bus_subscriber_process(urls: Urls, prefix: str, events: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=subscriber_process, args=(urls.subscriber, prefix, events, child))
    process.start()
    try:
        if not await asyncio.to_thread(parent.poll, 60) or parent.recv() != "ready":
            raise RuntimeError("the subscriber process did not start")
        start = await publish_all(urls.publisher, prefix, events)
        if not await asyncio.to_thread(parent.poll, max(120.0, events / 500)):
            raise RuntimeError("the subscriber did not handle every event in time")
        end: float = parent.recv()
        return events / (end - start)
    finally:
        await asyncio.to_thread(process.join, 30)
        if process.is_alive():
            process.kill()


async def run(urls: Urls, prefix: str, events: int, same_process: bool) -> bool:
    raw = await bench_raw(urls.publisher, f"{prefix}{PUBLISHER}:raw", events)
    if same_process:
        bus = await bench_bus_same_process(urls, prefix, events)
    else:
        bus = await bench_bus_subscriber_process(urls, prefix, events)
    ratio = bus / raw
    passed = ratio >= TARGET
    where = "same event loop" if same_process else "subscriber process"
    print(f"redis users:            {urls.users}")
    print(f"events:                 {events}")
    print(f"raw pipelined XADD:     {raw:12,.0f} events/s")
    print(f"bus publish + handled:  {bus:12,.0f} events/s ({where})")
    print(f"ratio bus/raw:          {ratio:12.2f} (target >= {TARGET})")
    print(f"result:                 {'PASS' if passed else 'FAIL'}")
    return passed


@contextlib.contextmanager
def redis_urls(given: str | None, prefix: str) -> Iterator[Urls]:
    """The given Redis for everyone, else an embedded redis-server with a user per service."""
    url = given or os.environ.get("ECO_BENCH_REDIS_URL") or os.environ.get("ECO_REDIS_URL")
    if url:
        yield Urls(url, url, url, "as given")
        return
    master = secrets.token_bytes(32)
    with tempfile.TemporaryDirectory() as tmp:
        aclfile = acl.write_acl(Path(tmp) / "redis.acl", master, (PUBLISHER, SUBSCRIBER), prefix)
        admin = (acl.ADMIN_USER, acl.password(master, acl.ADMIN_USER))
        with RedisServer(Path(tmp), aclfile=aclfile, auth=admin) as server:
            print(f"embedded redis-server {server.url} (ACL users, the default user off)")
            yield Urls(
                publisher=server.url_for(PUBLISHER, acl.password(master, PUBLISHER)),
                subscriber=server.url_for(SUBSCRIBER, acl.password(master, SUBSCRIBER)),
                admin=server.admin_url,
                users=f"{PUBLISHER} publishes, {SUBSCRIBER} subscribes (ACLs)",
            )


def main() -> None:
    parser = argparse.ArgumentParser(description="Event bus throughput against raw XADD.")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument(
        "--same-process", action="store_true", help="run the subscriber on the same event loop"
    )
    args = parser.parse_args()
    quiet_logs()
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    with redis_urls(args.redis_url, prefix) as urls:
        try:
            passed = asyncio.run(run(urls, prefix, args.events, args.same_process))
        finally:
            cleanup(urls.admin, prefix)
    raise SystemExit(0 if passed else 1)


if __name__ == "__main__":
    main()

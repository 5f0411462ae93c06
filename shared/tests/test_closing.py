"""`async with` / `with` on the shared clients, the bus and the test servers."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from eco_shared.bus import EVENTS, Event, EventBus
from eco_shared.http import ServiceClient
from eco_shared.testing.servers import ThreadedServer


async def test_a_service_client_closes_the_client_it_made() -> None:
    async with ServiceClient() as client:
        inner = client._client
        assert not inner.is_closed
    assert inner.is_closed


def test_a_service_client_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ServiceClient(retries=0)


async def test_consumer_runs_inside_async_with_and_close_stops_it(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    async with EventBus(redis_client, "svc", prefix=redis_prefix) as bus:
        consumer = bus.subscribe(EVENTS, "g-with", handler, block_ms=50)
        async with consumer as entered:
            assert entered is consumer
            assert consumer.running
            await bus.publish("t.x", {"i": 1})
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.02)
        assert not consumer.running
        assert [e.data for e in seen] == [{"i": 1}]
        consumer.start()
        assert consumer.running
        await consumer.close()
        assert not consumer.running
    # the bus did not make the client: it is still usable
    assert await redis_client.ping()


def test_threaded_server_serves_inside_with() -> None:
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("hi"))])
    with ThreadedServer(app, lifespan="off") as server:
        assert httpx.get(server.url).text == "hi"
    assert server.thread is not None
    assert not server.thread.is_alive()

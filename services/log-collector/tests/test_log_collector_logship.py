"""The shared log shipper: records reach eco.logs without blocking; drops are counted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from eco_shared.bus import LOGS, Event
from eco_shared.logship import DROPPED_KEY, LogShipper
from eco_shared.redis_server import RedisServer
from eco_shared.testing import ServiceProcess, wait_until


async def _stream(client: aioredis.Redis, key: str) -> list[Event]:
    return [
        Event.from_fields(fields, entry_id=entry_id.decode())
        for entry_id, fields in await client.xrange(key)
    ]


async def test_records_from_any_thread_become_log_envelopes(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    registry = CollectorRegistry()
    shipper = LogShipper("svc", instance_id="svc-1", prefix=redis_prefix, registry=registry)
    shipper.start(redis_client)
    try:
        shipper.sink(
            {
                "event": "document_stored",
                "level": "info",
                "timestamp": "2025-01-02T03:04:05.000006Z",
                "document_id": "d1",
                "_record": object(),  # structlog's internals are not shipped
                "when": object(),  # not JSON: shipped as its string
            }
        )
        worker = threading.Thread(
            target=lambda: [shipper.sink({"event": f"t{i}", "level": "debug"}) for i in range(5)]
        )
        worker.start()
        worker.join()
        assert await shipper.flush(10)
    finally:
        await shipper.stop()
    events = await _stream(redis_client, f"{redis_prefix}{LOGS}")
    assert len(events) == 6
    assert len({e.id for e in events}) == 6
    first = events[0]
    assert (first.type, first.source, first.time) == (
        "log.record",
        "svc",
        "2025-01-02T03:04:05.000006Z",
    )
    assert first.data["document_id"] == "d1"
    assert "_record" not in first.data
    assert first.data["when"].startswith("<object object")
    assert [e.data["event"] for e in events[1:]] == [f"t{i}" for i in range(5)]
    assert registry.get_sample_value("eco_log_records_shipped_total") == 6
    assert registry.get_sample_value("eco_log_records_dropped_total") == 0


async def test_drops_are_counted_while_redis_is_away_and_reported_after(
    private_redis: RedisServer,
) -> None:
    registry = CollectorRegistry()
    client = aioredis.Redis.from_url(private_redis.url, socket_connect_timeout=0.5)
    shipper = LogShipper(
        "svc", instance_id="svc-7", prefix="p:", max_queue=50, batch_size=20, registry=registry
    )
    shipper.start(client)
    try:
        private_redis.stop()
        started = time.perf_counter()
        for i in range(200):
            shipper.sink({"event": f"r{i}", "level": "info"})
        # the request path never waits on Redis
        assert time.perf_counter() - started < 0.5
        assert shipper.dropped == 150
        await asyncio.sleep(0.5)  # a few failed attempts
        assert shipper.queued == 50
        assert registry.get_sample_value("eco_log_records_dropped_total") == 150
        await asyncio.to_thread(private_redis.start)
        assert await shipper.flush(20)
    finally:
        await shipper.stop()
    try:
        events = await _stream(client, f"p:{LOGS}")
        assert [e.data["event"] for e in events] == [f"r{i}" for i in range(50)]
        assert await client.hget(f"p:{DROPPED_KEY}", "svc-7") == b"150"
    finally:
        await client.aclose()


def test_every_service_ships_its_logs_and_exposes_drops(
    start_service: Callable[..., ServiceProcess],
    eco_env: dict[str, str],
    redis_url: str,
    redis_prefix: str,
) -> None:
    import redis

    proc = start_service(
        "eco_shared.testing.example_service:create_app",
        env={
            **eco_env,
            "ECO_EXAMPLE_REGISTER_WITH_DISCOVERY": "false",
            "ECO_OTLP_ENDPOINT": "none",
        },
        port_env="ECO_EXAMPLE_PORT",
    )
    assert httpx.get(f"{proc.url}/relay").status_code == 200
    client = redis.Redis.from_url(redis_url)
    try:

        def shipped() -> list[dict[str, Any]]:
            return [Event.from_fields(f).data for _, f in client.xrange(f"{redis_prefix}{LOGS}")]

        wait_until(lambda: any(r["event"] == "relay_called" for r in shipped()), timeout_s=10)
        records = shipped()
    finally:
        client.close()
    assert {r["service"] for r in records} == {"example"}
    assert "service_started" in {r["event"] for r in records}
    relay = next(r for r in records if r["event"] == "relay_called")
    assert relay["level"] == "info"
    metrics = httpx.get(f"{proc.url}/metrics").text
    assert "eco_log_records_dropped_total 0.0" in metrics
    # stdout still gets every record
    assert "relay_called" in proc.log_tail(20_000)

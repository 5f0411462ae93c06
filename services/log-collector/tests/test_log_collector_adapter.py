"""The typed adapter against the real service: its OpenAPI and every method."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
import pytest

from eco_shared.adapters import AdapterError, check_adapter_against_openapi
from eco_shared.adapters.log_collector import LogCollectorAdapter
from eco_shared.bus import EVENTS, Event
from eco_shared.http import ServiceClient
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import MintedTokens, TestAuth

AUTH = TestAuth("log-collector")


def test_adapter_matches_the_openapi_of_the_running_service(
    shared_collector: ServiceProcess,
) -> None:
    spec = httpx.get(f"{shared_collector.url}/openapi.json").json()
    assert check_adapter_against_openapi(LogCollectorAdapter, spec) == []


async def test_every_adapter_method_against_the_service(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    service = lc.unique("adapted")
    trace_id = os.urandom(16).hex()
    span_id = os.urandom(8).hex()
    now = time.time_ns()
    otlp = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "op",
                                "startTimeUnixNano": str(now),
                                "endTimeUnixNano": str(now + 1_000_000),
                            }
                        ]
                    }
                ],
            }
        ]
    }
    assert httpx.post(f"{shared_collector.url}/v1/traces", json=otlp, auth=AUTH).status_code == 200
    lc.publish_logs(
        redis_url,
        module_prefix,
        [
            lc.log_fields("one", service=service, trace_id=trace_id, level="error"),
            lc.log_fields("two", service=service, level="info"),
            lc.log_fields("bad", service=service, level="nope"),
        ],
    )
    event = Event(type="adapter.tested", source=service, data={"k": 1})
    lc.publish(redis_url, f"{module_prefix}{EVENTS}", [event.to_fields()])
    lc.wait_for_logs(shared_collector.url, 2, service=service)

    async with ServiceClient(service_name="test", tokens=MintedTokens()) as http:
        adapter = LogCollectorAdapter(http, base_url=shared_collector.url)
        assert (await adapter.health())["service"] == "log-collector"
        assert ("GET", "/logs") in {(c.method, c.path) for c in await adapter.capabilities()}

        page = await adapter.logs(service=service, level="error")
        assert [r.message for r in page.items] == ["one"]
        first = await adapter.logs(service=service, limit=1)
        second = await adapter.logs(service=service, limit=1, cursor=first.next_cursor)
        assert [r.message for r in first.items + second.items] == ["two", "one"]

        for _ in range(100):
            events = await adapter.events(source=service)
            if events.items:
                break
            await asyncio.sleep(0.1)
        assert [(e.event_id, e.data) for e in events.items] == [(event.id, {"k": 1})]

        detail = await adapter.trace(trace_id)
        assert detail is not None
        assert [s.span_id for s in detail.roots] == [span_id]
        assert [r.message for r in detail.logs] == ["one"]
        assert await adapter.trace("0b" * 16) is None

        listed = await adapter.traces(service=service, since="1h")
        assert [t.trace_id for t in listed.items] == [trace_id]

        stats = await adapter.stats(since="1h")
        assert stats.logs_by_service[service] == {"error": 1, "info": 1}

        errors = await adapter.ingest_errors(limit=1000)
        assert "unknown level 'nope'" in {e.reason for e in errors.items if e.source == service}

        with pytest.raises(AdapterError) as bad:
            await adapter.logs(since="whenever")
        assert bad.value.status == 422

        async def first_tailed() -> str:
            async for record in adapter.tail(service=service, level="warning"):
                return record.message
            return ""

        follower = asyncio.create_task(first_tailed())
        # publish until the follower (connected at some point) has seen one
        deadline = time.monotonic() + 15
        while not follower.done() and time.monotonic() < deadline:
            lc.publish_logs(
                redis_url,
                module_prefix,
                [
                    lc.log_fields("quiet", service=service, level="info"),
                    lc.log_fields("loud", service=service, level="critical"),
                ],
            )
            await asyncio.sleep(0.2)
        assert await asyncio.wait_for(follower, 1) == "loud"

"""The contract test: the log collector, a real process, against schemathesis with every
check and phase. A few stored records, an event and a trace give the stateful phase
something to page through and follow."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from eco_shared.bus import EVENTS, Event
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.contract import assert_contract

TAIL = {"/logs/tail": "a server-sent-events stream; test_log_collector_tail covers it"}


def _seed(url: str, redis_url: str, prefix: str, lc: Any) -> None:
    service = lc.unique("seeded")
    trace_id = os.urandom(16).hex()
    lc.publish_logs(
        redis_url, prefix, [lc.log_fields(f"line {n}", service=service) for n in range(3)]
    )
    lc.publish(
        redis_url,
        f"{prefix}{EVENTS}",
        [Event(type="thing.happened", source=service, data={"n": 1}).to_fields()],
    )
    now = time.time_ns()
    span = {
        "traceId": trace_id,
        "spanId": os.urandom(8).hex(),
        "name": "seeded",
        "startTimeUnixNano": str(now),
        "endTimeUnixNano": str(now + 1_000_000),
    }
    request = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [{"spans": [span]}],
            }
        ]
    }
    assert httpx.post(f"{url}/v1/traces", json=request, timeout=10).status_code == 200
    lc.wait_for_logs(url, 3, timeout_s=30, service=service)
    wait_until(lambda: httpx.get(f"{url}/events", params={"source": service}).json()["items"])


def test_the_log_collector_keeps_its_openapi_contract(
    start_collector: Callable[..., ServiceProcess],
    redis_url: str,
    redis_prefix: str,
    lc: Any,
) -> None:
    collector = start_collector()
    _seed(collector.url, redis_url, redis_prefix, lc)
    assert_contract(collector.url, exclude_paths=TAIL, max_examples=20)

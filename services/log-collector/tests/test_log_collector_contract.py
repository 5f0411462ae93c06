"""The contract test: the log collector, a real process, against schemathesis with every
check and phase (as an admin). A few stored records, an event, an audit record and a trace
give the stateful phase something to page through and follow."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from eco_shared.bus import EVENTS, Event
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth, bearer
from eco_shared.testing.contract import assert_contract

AUTH = TestAuth("log-collector")

TAIL = {"/logs/tail": "a server-sent-events stream; test_log_collector_tail covers it"}
# a cursor is opaque: any string the schema allows may not be one this service handed out
REJECTIONS = {"/traces": ([400], "a `cursor` this service did not hand out")}


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
    assert httpx.post(f"{url}/v1/traces", json=request, timeout=10, auth=AUTH).status_code == 200
    audit = Event(type="key.created", source="discovery", data={"key_id": "k1", "by": "user:a"})
    lc.publish(redis_url, f"{prefix}eco.audit", [audit.to_fields()])
    lc.wait_for_logs(url, 3, timeout_s=30, service=service)
    wait_until(lambda: httpx.get(f"{url}/audit", auth=AUTH, timeout=10).json()["items"])
    wait_until(
        lambda: httpx.get(f"{url}/events", params={"source": service}, auth=AUTH).json()["items"]
    )


@pytest.mark.timeout(600)  # every phase over every route; minutes on a busy machine
def test_the_log_collector_keeps_its_openapi_contract(
    start_collector: Callable[..., ServiceProcess],
    redis_url: str,
    redis_prefix: str,
    lc: Any,
) -> None:
    collector = start_collector()
    _seed(collector.url, redis_url, redis_prefix, lc)
    assert_contract(
        collector.url,
        exclude_paths=TAIL,
        rejections=REJECTIONS,
        max_examples=20,
        headers=bearer("log-collector"),
    )

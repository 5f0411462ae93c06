"""`GET /logs/tail`: a live follower gets what is published after it connected."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import TestAuth

AUTH = TestAuth("log-collector")


def _sse(lines: Iterator[str]) -> Iterator[tuple[str, str, str]]:
    """(event, id, data) of each server-sent event."""
    event = entry_id = data = ""
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("id:"):
            entry_id = line[3:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif not line and event:
            yield event, entry_id, data
            event = entry_id = data = ""


def test_tail_receives_a_matching_record_published_after_connecting(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    service = lc.unique("tailed")
    # published before connecting: must not show up
    lc.publish_logs(redis_url, module_prefix, [lc.log_fields("too early", service=service)])
    params = {"service": service, "level": "warning"}
    with httpx.stream(
        "GET", f"{shared_collector.url}/logs/tail", params=params, timeout=10, auth=AUTH
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse(response.iter_lines())
        assert next(events)[0] == "ready"
        ids = lc.publish_logs(
            redis_url,
            module_prefix,
            [
                lc.log_fields("other service", service=lc.unique("x"), level="error"),
                lc.log_fields("below the level", service=service, level="info"),
                lc.log_fields("disk almost full", service=service, level="warning", pct=93),
            ],
        )
        event, entry_id, data = next(events)
    assert event == "log"
    assert entry_id == ids[2]
    record = json.loads(data)
    assert (record["service"], record["message"], record["level"]) == (
        service,
        "disk almost full",
        "warning",
    )
    assert record["attributes"] == {"pct": 93}

    # reconnecting with Last-Event-ID resumes after that record, not at the end
    more = lc.publish_logs(
        redis_url, module_prefix, [lc.log_fields("while away", service=service, level="error")]
    )
    with httpx.stream(
        "GET",
        f"{shared_collector.url}/logs/tail",
        params=params,
        headers={"Last-Event-ID": entry_id},
        timeout=10,
        auth=AUTH,
    ) as response:
        events = _sse(response.iter_lines())
        assert next(events)[0] == "ready"
        event, resumed_id, data = next(events)
    assert (event, resumed_id, json.loads(data)["message"]) == ("log", more[0], "while away")


def test_tail_refuses_invalid_parameters(shared_collector: ServiceProcess) -> None:
    bad_level = httpx.get(f"{shared_collector.url}/logs/tail", params={"level": "loud"}, auth=AUTH)
    assert bad_level.status_code == 422
    assert bad_level.headers["content-type"] == "application/problem+json"
    bad_id = httpx.get(
        f"{shared_collector.url}/logs/tail", headers={"Last-Event-ID": "nope"}, auth=AUTH
    )
    assert bad_id.status_code == 422


def test_a_follower_over_the_limit_is_told_to_come_back(start_collector: Any) -> None:
    collector = start_collector(ECO_LOG_COLLECTOR_MAX_TAIL_CLIENTS="1")
    with httpx.stream("GET", f"{collector.url}/logs/tail", timeout=10, auth=AUTH) as first:
        events = _sse(first.iter_lines())  # held: a dropped iterator closes the stream
        assert next(events)[0] == "ready"
        refused = httpx.get(f"{collector.url}/logs/tail", timeout=10, auth=AUTH)
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "5"
        assert refused.json()["title"] == "Too many tail clients"

"""Queries over real ingestion: pages, filters, events, bad input, duplicates, stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from eco_shared.bus import DLQ, EVENTS, LOGS, DeadLetter, Event
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth

AUTH = TestAuth("log-collector")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _get(proc: ServiceProcess, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{proc.url}{path}", params=params, timeout=10, auth=AUTH)


def test_logs_are_newest_first_and_cursor_pages_cover_everything_once(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    service = lc.unique("pager")
    base = datetime.now(UTC) - timedelta(minutes=5)
    # two records share a timestamp: the cursor must still neither skip nor repeat one
    times = [base + timedelta(seconds=i) for i in range(24)] + [base + timedelta(seconds=23)]
    lc.publish_logs(
        redis_url,
        module_prefix,
        [lc.log_fields(f"record {i}", service=service, time=_iso(t)) for i, t in enumerate(times)],
    )
    lc.wait_for_logs(shared_collector.url, 25, service=service)

    pages = lc.cursor_pages(shared_collector.url, "/logs", service=service, limit=10)
    seen = [item["message"] for page in pages for item in page]
    assert len(pages) == 3
    assert len(seen) == 25
    assert len(set(seen)) == 25
    stamps = [int(m.split()[1]) for m in seen]
    assert stamps[:2] in ([24, 23], [23, 24])  # the two at the same instant come first
    assert stamps[2:] == list(range(22, -1, -1))


def test_level_filter_returns_that_level_and_above(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    service = lc.unique("levels")
    levels = ["debug", "info", "warning", "error", "critical", "warn", "exception"]
    lc.publish_logs(
        redis_url,
        module_prefix,
        [lc.log_fields(f"at {lvl}", service=service, level=lvl) for lvl in levels],
    )
    lc.wait_for_logs(shared_collector.url, len(levels), service=service)
    items = _get(shared_collector, "/logs", service=service, level="warning").json()["items"]
    assert sorted(i["level"] for i in items) == ["critical", "error", "error", "warning", "warning"]
    items = _get(shared_collector, "/logs", service=service, level="critical").json()["items"]
    assert [i["message"] for i in items] == ["at critical"]


def test_trace_text_and_time_filters(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    service = lc.unique("filters")
    trace_id = "ab" * 16
    now = datetime.now(UTC)
    lc.publish_logs(
        redis_url,
        module_prefix,
        [
            lc.log_fields(
                "document_stored",
                service=service,
                trace_id=trace_id,
                span_id="cd" * 8,
                document_id="Doc-42",
                time=_iso(now - timedelta(minutes=30)),
            ),
            lc.log_fields("100% done", service=service, time=_iso(now - timedelta(minutes=10))),
            lc.log_fields("1000 done", service=service, time=_iso(now - timedelta(minutes=1))),
        ],
    )
    lc.wait_for_logs(shared_collector.url, 3, service=service)

    by_trace = _get(shared_collector, "/logs", trace_id=trace_id.upper()).json()["items"]
    assert [i["message"] for i in by_trace] == ["document_stored"]
    assert by_trace[0]["span_id"] == "cd" * 8
    assert by_trace[0]["attributes"] == {"document_id": "Doc-42"}
    # text search covers attributes, ignores case, and takes % literally
    assert [i["message"] for i in _get(shared_collector, "/logs", q="doc-42").json()["items"]] == [
        "document_stored"
    ]
    percent = _get(shared_collector, "/logs", service=service, q="0%").json()["items"]
    assert [i["message"] for i in percent] == ["100% done"]
    window = _get(
        shared_collector,
        "/logs",
        service=service,
        since="20m",
        until=_iso(now - timedelta(minutes=5)),
    ).json()["items"]
    assert [i["message"] for i in window] == ["100% done"]
    # the shared time parser: epoch seconds too
    epoch = _get(
        shared_collector,
        "/logs",
        service=service,
        since=str((now - timedelta(minutes=20)).timestamp()),
        until=str(int((now - timedelta(minutes=5)).timestamp())),
    ).json()["items"]
    assert [i["message"] for i in epoch] == ["100% done"]
    # a window that ends before it starts holds nothing (a filter, not an error)
    reversed_window = _get(shared_collector, "/logs", service=service, since="1h", until="2h")
    assert reversed_window.status_code == 200
    assert reversed_window.json()["items"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"level": "verbose"}, "level"),
        ({"limit": 0}, "limit"),
        ({"limit": 5000}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2024-13-01T00:00:00Z"}, "until"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"trace_id": "xyz"}, "trace_id"),
        ({"cursor": "A" * 21}, "cursor"),
    ],
)
def test_invalid_query_parameters_are_problem_json(
    shared_collector: ServiceProcess, params: dict[str, Any], field: str
) -> None:
    response = _get(shared_collector, "/logs", **params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in response.json()["errors"]}


def test_events_are_stored_with_their_trace_and_filtered(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    source = lc.unique("doc-store")
    traceparent = f"00-{'1f' * 16}-{'2e' * 8}-01"
    entries = [
        Event(type="document.stored", source=source, data={"n": 1}, traceparent=traceparent),
        Event(type="document.deleted", source=source, data={"n": 2}),
        Event(type="document.stored", source=source, data={"n": 3}),
    ]
    lc.publish(redis_url, f"{module_prefix}{EVENTS}", [e.to_fields() for e in entries])

    def stored() -> list[Any]:
        return _get(shared_collector, "/events", source=source).json()["items"]

    wait_until(lambda: len(stored()) == 3, timeout_s=15)
    typed = _get(shared_collector, "/events", source=source, type="document.stored").json()
    assert [e["data"]["n"] for e in typed["items"]] == [3, 1]
    traced = _get(shared_collector, "/events", trace_id="1f" * 16).json()["items"]
    assert [(e["event_id"], e["span_id"]) for e in traced] == [(entries[0].id, "2e" * 8)]
    bad = _get(shared_collector, "/events", since="soon")
    assert bad.status_code == 422


def test_malformed_entries_never_block_the_stream(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    service = lc.unique("malformed")
    unknown_level = lc.log_fields("odd", service=service, level="loud")
    no_message = Event(type="log.record", source=service, data={"level": "info"}).to_fields()
    bad_json = {**lc.log_fields("x", service=service), "data": "{not json"}
    missing = {"source": service, "type": "log.record"}
    lc.publish_logs(
        redis_url,
        module_prefix,
        [missing, bad_json, unknown_level, no_message, lc.log_fields("after", service=service)],
    )
    # the valid record behind the broken ones is stored
    assert [i["message"] for i in lc.wait_for_logs(shared_collector.url, 1, service=service)] == [
        "after"
    ]

    def errors() -> dict[str, str]:
        items = _get(shared_collector, "/ingest-errors", limit=1000).json()["items"]
        return {i["event_id"]: i["reason"] for i in items if i["source"] == service}

    wait_until(lambda: len(errors()) == 2, timeout_s=10)
    reasons = errors()
    assert reasons[unknown_level["id"]] == "unknown level 'loud'"
    assert reasons[no_message["id"]] == "missing event (the message)"

    client = redis.Redis.from_url(redis_url)
    try:
        dead = [
            DeadLetter.from_fields(i.decode(), f)
            for i, f in client.xrange(f"{module_prefix}{DLQ}")
            if f.get(b"source") == service.encode()
        ]
        assert sorted(d.reason.split(":")[1].strip() for d in dead) == [
            "data is not JSON",
            "missing fields",
        ]
        assert all(d.handler.endswith("handle_logs") for d in dead)
        # the collector's own log lines keep arriving: wait for a moment with none in flight
        wait_until(
            lambda: client.xpending(f"{module_prefix}{LOGS}", "log-collector")["pending"] == 0,
            timeout_s=10,
        )
    finally:
        client.close()


def test_a_redelivered_record_is_stored_once(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    service = lc.unique("dupes")
    fields = lc.log_fields("only once", service=service)
    lc.publish_logs(redis_url, module_prefix, [fields, fields])
    lc.publish_logs(redis_url, module_prefix, [fields, lc.log_fields("sentinel", service=service)])
    items = lc.wait_for_logs(shared_collector.url, 2, service=service)
    assert sorted(i["message"] for i in items) == ["only once", "sentinel"]


def test_stats_count_by_service_and_level_and_report_lag(
    shared_collector: ServiceProcess, redis_url: str, module_prefix: str, lc: Any
) -> None:
    service = lc.unique("stats")
    old = _iso(datetime.now(UTC) - timedelta(hours=3))
    lc.publish_logs(
        redis_url,
        module_prefix,
        [
            lc.log_fields("a", service=service),
            lc.log_fields("b", service=service, level="error"),
            lc.log_fields("c", service=service, level="error"),
            lc.log_fields("old", service=service, time=old),
        ],
    )
    lc.wait_for_logs(shared_collector.url, 4, service=service)
    client = redis.Redis.from_url(redis_url)
    try:
        client.hset(f"{module_prefix}eco.logs.dropped", mapping={"svc-1": 5, "svc-2": 2})
    finally:
        client.close()
    stats = _get(shared_collector, "/stats").json()
    assert stats["logs_by_service"][service] == {"info": 1, "error": 2}
    wider = _get(shared_collector, "/stats", since="4h").json()
    assert wider["logs_by_service"][service] == {"info": 2, "error": 2}
    assert stats["totals"]["logs"] >= 4
    streams = {s["stream"]: s for s in stats["streams"]}
    assert set(streams) == {"eco.logs", "eco.events", "eco.audit"}
    # Consumers trim what every group has ACKed, so the length is whatever is left now.
    assert isinstance(streams["eco.logs"]["length"], int)
    assert streams["eco.logs"]["pending"] >= 0
    assert streams["eco.logs"]["lag"] >= 0
    assert stats["dropped_records"] == 7
    assert stats["dropped_by_instance"] == {"svc-1": 5, "svc-2": 2}
    assert _get(shared_collector, "/stats", since="never").status_code == 422


def test_every_route_declares_the_problems_it_can_return(
    shared_collector: ServiceProcess,
) -> None:
    spec = _get(shared_collector, "/openapi.json").json()
    expected = {
        ("get", "/logs"): {"422"},
        ("get", "/logs/tail"): {"422", "503"},
        ("get", "/events"): {"422"},
        ("get", "/traces"): {"422"},
        ("get", "/traces/{trace_id}"): {"404", "422"},
        ("get", "/stats"): {"422", "503"},
        ("get", "/ingest-errors"): {"422"},
        ("get", "/audit"): {"422"},
        ("get", "/audit/verify"): set(),
        ("post", "/v1/traces"): {"400", "413", "415"},
    }
    for (method, path), statuses in expected.items():
        statuses = statuses | {"401", "403"}  # every route needs a token with a scope
        responses = spec["paths"][path][method]["responses"]
        problems = {
            status
            for status, response in responses.items()
            if "application/problem+json" in response.get("content", {})
        }
        assert statuses <= problems, (method, path, sorted(problems))

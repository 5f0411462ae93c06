"""Spans across traces: a span's trace, trace search with cursor pages, per-operation
statistics and the service graph, over spans sent to a real collector over OTLP/JSON."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth
from eco_shared.testing.otlp import otlp_body, otlp_span

AUTH = TestAuth("log-collector")


def _send(url: str, by_service: dict[str, list[dict[str, Any]]]) -> None:
    body = otlp_body(by_service)
    sent = httpx.post(f"{url}/v1/traces", json=body, auth=AUTH, timeout=10)
    assert sent.status_code == 200, sent.text


def _call(
    front: str, back: str, start_ns: int, ms: float, *, op: str = "POST /work", error: bool = False
) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """One trace: front's server span, its client span, back's server span under it."""
    trace_id = os.urandom(16).hex()
    root = otlp_span(trace_id, "GET /page", start_ns, ms)
    client = otlp_span(trace_id, "POST", start_ns + 1000, ms - 0.5, parent=root["spanId"], kind=3)
    work = otlp_span(trace_id, op, start_ns + 2000, ms - 1, parent=client["spanId"], error=error)
    return trace_id, {front: [root, client], back: [work]}


def _get(proc: ServiceProcess, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{proc.url}{path}", params=params, auth=AUTH, timeout=10)


def test_a_span_id_names_its_trace(shared_collector: ServiceProcess, lc: Any) -> None:
    front, back = lc.unique("front"), lc.unique("back")
    trace_id, spans = _call(front, back, time.time_ns(), 10)
    _send(shared_collector.url, spans)
    work = spans[back][0]
    found = _get(shared_collector, f"/spans/{work['spanId'].upper()}")
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["trace_id"] == trace_id
    assert (body["span_id"], body["service"], body["name"]) == (work["spanId"], back, "POST /work")
    assert body["parent_span_id"] == spans[front][1]["spanId"]

    unknown = _get(shared_collector, f"/spans/{os.urandom(8).hex()}")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    for bad in ("xyz", os.urandom(16).hex()):
        refused = _get(shared_collector, f"/spans/{bad}")
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"].startswith("application/problem+json")


def test_traces_are_searched_and_paged_by_cursor(shared_collector: ServiceProcess, lc: Any) -> None:
    front, back = lc.unique("front"), lc.unique("back")
    now = time.time_ns()
    fast, fast_spans = _call(front, back, now - 3 * 10**9, 10)
    slow, slow_spans = _call(front, back, now - 2 * 10**9, 50, error=True)
    other, other_spans = _call(front, back, now - 1 * 10**9, 20, op="GET /other")
    for spans in (fast_spans, slow_spans, other_spans):
        _send(shared_collector.url, spans)

    def ids(**params: Any) -> list[str]:
        answer = _get(shared_collector, "/traces", **params)
        assert answer.status_code == 200, answer.text
        return [t["trace_id"] for t in answer.json()["items"]]

    wait_until(lambda: len(ids(service=front)) == 3, timeout_s=15)
    assert ids(service=front) == [other, slow, fast]  # newest first
    assert ids(service=back, operation="POST /work") == [slow, fast]
    assert ids(operation="GET /other", service=back) == [other]
    assert ids(operation="GET /other", service=front) == []  # the same span must match both
    assert ids(service=front, errors="true") == [slow]
    assert ids(service=front, max_duration_ms=15) == [fast]
    assert ids(service=front, min_duration_ms=15, max_duration_ms=30) == [other]
    until = f"{(now - 25 * 10**8) / 1e9:.6f}"  # between the first two
    assert ids(service=front, until=until) == [fast]

    pages = lc.cursor_pages(shared_collector.url, "/traces", service=front, limit=2)
    seen = [t["trace_id"] for page in pages for t in page]
    assert len(pages) == 2
    assert seen == [other, slow, fast]

    bad = _get(shared_collector, "/traces", cursor="not-ours")
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["errors"][0]["loc"] == ["query", "cursor"]


def test_operation_statistics_count_errors_and_percentiles(
    shared_collector: ServiceProcess, lc: Any
) -> None:
    service = lc.unique("ops")
    now = time.time_ns() - 10**9
    trace_id = os.urandom(16).hex()
    spans = [
        otlp_span(trace_id, "step", now + i * 10**6, ms, error=(i == 0))
        for i, ms in enumerate([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    ]
    spans.append(otlp_span(trace_id, "other", now, 100))
    _send(shared_collector.url, {service: spans})

    def stats() -> list[dict[str, Any]]:
        answer = _get(shared_collector, "/stats/operations", service=service, since="10m")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])

    wait_until(lambda: sum(i["span_count"] for i in stats()) == 11, timeout_s=15)
    step, other = stats()  # busiest first
    assert (step["service"], step["operation"]) == (service, "step")
    assert (step["span_count"], step["error_count"], step["sampled"]) == (10, 1, 10)
    assert (step["p50_ms"], step["p95_ms"], step["max_ms"]) == (5.0, 10.0, 10.0)
    assert (other["operation"], other["span_count"], other["max_ms"]) == ("other", 1, 100.0)
    # a window before the spans holds none of them
    empty = _get(shared_collector, "/stats/operations", service=service, until="1h")
    assert empty.status_code == 200
    assert empty.json()["items"] == []
    assert _get(shared_collector, "/stats/operations", since="soon").status_code == 422


def test_dependencies_are_the_calls_between_services(
    shared_collector: ServiceProcess, lc: Any
) -> None:
    front, back = lc.unique("front"), lc.unique("back")
    now = time.time_ns() - 10**9
    for i in range(3):
        _send(shared_collector.url, _call(front, back, now + i * 10**6, 5, error=(i == 2))[1])

    def edges() -> dict[tuple[str, str], dict[str, Any]]:
        answer = _get(shared_collector, "/dependencies", since="10m")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return {
            (e["parent"], e["child"]): e
            for e in body["edges"]
            if {e["parent"], e["child"]} & {front, back}
        }

    wait_until(lambda: edges().get((front, back), {}).get("call_count") == 3, timeout_s=15)
    found = edges()
    # front's client span under front's server span is no call between services
    assert list(found) == [(front, back)]
    assert (found[(front, back)]["call_count"], found[(front, back)]["error_count"]) == (3, 1)
    services = _get(shared_collector, "/dependencies", since="10m").json()["services"]
    assert {front, back} <= set(services)

"""The traces part of the console: search with cursor pages, statistics per operation, two
traces compared, `/go` of a span id — the compare core as pure functions, the pages against
the real ecosystem (spans sent to its log collector over OTLP/JSON)."""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pytest

from eco_console.service import deps_graph
from eco_console.service.compare import compare
from eco_console.service.trace_search import TraceSearch
from eco_shared.adapters.log_collector import Dependencies, DependencyEdge, SpanOut
from eco_shared.testing import wait_until
from eco_shared.testing.otlp import otlp_body, otlp_span

from .conftest import Console

slow = [pytest.mark.slow, pytest.mark.timeout(600)]
XSS = "<script>alert('x')</script>"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# -- the compare core (pure)


def node(service: str, name: str, ms: float, *children: SpanOut) -> SpanOut:
    return SpanOut(
        trace_id="t" * 32,
        span_id=uuid.uuid4().hex[:16],
        service=service,
        name=name,
        kind="internal",
        start=T0,
        end=T0 + timedelta(milliseconds=ms),
        duration_ms=ms,
        children=list(children),
    )


def test_compare_matches_spans_by_their_service_operation_path() -> None:
    a = [
        node(
            "front",
            "GET /page",
            100,
            node("front", "db", 10),
            node("front", "db", 15),
            node("back", "work", 60, node("back", "cache", 5)),
        )
    ]
    b = [
        node(
            "front",
            "GET /page",
            80,
            node("front", "db", 12),
            node("back", "work", 50, node("back", "llm", 40)),
        )
    ]
    result = compare(a, b)
    table = [
        (n.depth, n.service, n.operation, n.count_a, n.count_b, n.ms_a, n.ms_b, n.presence)
        for n in result.nodes
    ]
    assert table == [
        (0, "front", "GET /page", 1, 1, 100.0, 80.0, "both"),
        (1, "front", "db", 2, 1, 25.0, 12.0, "both"),
        (1, "back", "work", 1, 1, 60.0, 50.0, "both"),
        (2, "back", "cache", 1, 0, 5.0, 0.0, "only_a"),
        (2, "back", "llm", 0, 1, 0.0, 40.0, "only_b"),
    ]
    assert result.nodes[0].delta_ms == -20.0
    assert result.nodes[1].delta_count == -1
    assert (result.only_a, result.only_b, result.changed) == (1, 1, 1)


def test_compare_keeps_the_same_operation_under_different_parents_apart() -> None:
    a = [node("s", "root", 10, node("s", "x", 1, node("s", "leaf", 1)), node("s", "leaf", 2))]
    result = compare(a, a)
    paths = [tuple(op for _, op in n.path) for n in result.nodes]
    assert paths == [("root",), ("root", "x"), ("root", "x", "leaf"), ("root", "leaf")]
    assert all(n.presence == "both" and n.delta_ms == 0 for n in result.nodes)
    assert compare([], []).nodes == []


def test_compare_walks_a_deep_trace_without_recursion() -> None:
    deep = node("s", "op", 1)
    for _ in range(3000):
        deep = node("s", "op", 1, deep)
    result = compare([deep], [])
    assert len(result.nodes) == 3001
    assert result.only_a == 3001


def test_the_search_form_reads_blank_and_bad_values() -> None:
    blank = TraceSearch.read(
        service="", operation=None, min_ms="", max_ms=" ", errors=None, since=""
    )
    assert blank.problems == []
    assert not blank.active
    assert blank.filters()["min_duration_ms"] is None
    bad = TraceSearch.read(
        service=" api ", operation="GET /x", min_ms="abc", max_ms="-1", errors="1", since="2y"
    )
    assert len(bad.problems) == 3
    ok = TraceSearch.read(
        service="api", operation="GET /x", min_ms="5", max_ms="", errors="on", since="1h"
    )
    assert ok.filters() == {
        "service": "api",
        "operation": "GET /x",
        "errors": True,
        "since": "1h",
        "min_duration_ms": 5.0,
        "max_duration_ms": None,
    }
    expected = "?service=api&operation=GET+%2Fx&min_ms=5&errors=1&since=1h&cursor=c1"
    assert ok.query(cursor="c1") == expected


# -- the pages, against the real ecosystem


def _send(console: Console, by_service: dict[str, list[dict[str, Any]]]) -> None:
    body = otlp_body(by_service)
    sent = httpx.post(
        console.eco.url("log-collector") + "/v1/traces",
        json=body,
        headers=console.eco.headers("log-collector"),
        timeout=30,
    )
    assert sent.status_code == 200, sent.text


def _call(
    front: str, back: str, start_ns: int, ms: float, *, op: str = "POST /work", error: bool = False
) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    trace_id = os.urandom(16).hex()
    root = otlp_span(trace_id, "GET /page", start_ns, ms)
    work = otlp_span(trace_id, op, start_ns + 1000, ms - 1, parent=root["spanId"], error=error)
    return trace_id, {front: [root], back: [work]}


def _stored(console: Console, trace_ids: list[str]) -> None:
    def all_there() -> bool:
        for trace_id in trace_ids:
            got = httpx.get(
                f"{console.eco.url('log-collector')}/traces/{trace_id}",
                headers=console.eco.headers("log-collector"),
                timeout=10,
            )
            if got.status_code != 200:
                return False
        return True

    wait_until(all_there, timeout_s=30, interval_s=0.2)


def _listed(html: str) -> list[str]:
    return re.findall(r'data-trace-row="([0-9a-f]{32})"', html)


def _unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_traces_page_searches_and_pages_by_cursor(console: Console) -> None:
    front, back = _unique("front"), _unique("back")
    now = time.time_ns() - 60 * 10**9
    calls = [_call(front, back, now + i * 10**6, 5 + i, error=(i == 3)) for i in range(23)]
    spans: dict[str, list[dict[str, Any]]] = {front: [], back: []}
    for _, by_service in calls:
        for service, items in by_service.items():
            spans[service] += items
    _send(console, spans)
    ids = [trace_id for trace_id, _ in calls]
    _stored(console, ids)
    newest_first = list(reversed(ids))
    with console.signed_in() as client:
        first = client.get("/traces", params={"service": front, "since": "1h"})
        assert first.status_code == 200
        assert _listed(first.text) == newest_first[:20]  # the console's page size
        assert f'value="{front}"' in first.text  # the search is shown back
        assert '<option value="1h" selected>' in first.text
        older = re.search(r'<a rel="next" href="([^"]+)">Older', first.text)
        assert older, "no Older link"
        href = unescape(older.group(1))
        assert f"service={front}" in href
        assert "since=1h" in href
        assert "cursor=" in href
        second = client.get(href)
        assert second.status_code == 200
        assert _listed(second.text) == newest_first[20:]
        assert 'rel="next"' not in second.text
        assert f"service={front}" in unescape(re.search(r'href="([^"]*)">Newest', second.text)[1])

        errors = client.get("/traces", params={"service": back, "errors": "1"})
        assert _listed(errors.text) == [ids[3]]
        assert 'id="errors" name="errors" value="1" checked' in errors.text
        params = {"service": back, "operation": "POST /work", "min_ms": "", "max_ms": "6.5"}
        narrow = client.get("/traces", params=params)
        assert _listed(narrow.text) == [ids[1], ids[0]]  # 5 and 6 ms traces, each 1 ms less
        none = client.get("/traces", params={"service": back, "operation": "nothing"})
        assert _listed(none.text) == []
        assert "No traces match this search." in none.text

        bad = client.get("/traces", params={"min_ms": "soon"})
        assert bad.status_code == 422
        assert "Min duration is a number of milliseconds" in bad.text
        wrong_cursor = client.get("/traces", params={"cursor": "not-a-cursor"})
        assert wrong_cursor.status_code == 422
        assert 'role="alert"' in wrong_cursor.text
        assert client.get("/traces", params={"since": "forever"}).status_code == 422


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_statistics_per_operation_sort_and_link_to_a_search(console: Console) -> None:
    service = _unique("stats")
    now = time.time_ns() - 30 * 10**9
    trace_id = os.urandom(16).hex()
    spans = [otlp_span(trace_id, "fast", now + i, 1 + i, error=(i == 0)) for i in range(4)]
    spans += [otlp_span(trace_id, "slow", now, 500), otlp_span(trace_id, XSS, now, 2)]
    _send(console, {service: spans})
    _stored(console, [trace_id])
    with console.signed_in() as client:
        page = client.get("/traces/stats", params={"service": service})
        assert page.status_code == 200
        assert '<a href="/traces/stats' in client.get("/traces").text  # linked from /traces
        body = page.text.split("<tbody", 1)[1]
        ops = re.findall(r"operation=([^&]+)&amp;since=1h\">", body)
        assert ops[0] == "fast"  # busiest first by default
        assert "✖</span> 1" in body  # the error count, with its glyph and number
        assert XSS not in page.text
        assert "&lt;script&gt;" in page.text
        link = f"/traces?service={service}&amp;operation=slow&amp;since=1h"
        assert f'<a href="{link}">slow</a>' in body
        by_max = client.get("/traces/stats", params={"service": service, "sort": "max"})
        by_max_body = by_max.text.split("<tbody", 1)[1]
        ordered = re.findall(r"operation=([^&]+)&amp;since=1h\">", by_max_body)
        assert ordered[0] == "slow"
        assert 'aria-sort="descending">max' in by_max.text
        search = client.get(unescape(link))
        assert _listed(search.text) == [trace_id]
        assert client.get("/traces/stats", params={"sort": "colour"}).status_code == 422


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_traces_are_compared_node_by_node(console: Console) -> None:
    front, back = _unique("front"), _unique("back")
    now = time.time_ns() - 20 * 10**9
    a, a_spans = _call(front, back, now, 30)
    b, b_spans = _call(front, back, now + 10**9, 50)
    extra = otlp_span(b, XSS, now + 10**9 + 5000, 3, parent=b_spans[back][0]["spanId"])
    b_spans[back].append(extra)
    _send(console, a_spans)
    _send(console, b_spans)
    _stored(console, [a, b])
    with console.signed_in() as client:
        trace = client.get(f"/traces/{a}")
        assert 'action="/traces/compare"' in trace.text  # "Compare with…" on the trace page
        assert f'name="a" value="{a}"' in trace.text
        page = client.get("/traces/compare", params={"a": a, "b": b})
        assert page.status_code == 200, page.text
        assert "3 nodes: 0 only in A, 1 only in B, 0 with a different number of spans" in page.text
        rows = re.findall(r'<tr class="cmp-(\w+)" data-depth="(\d)"', page.text)
        assert rows == [("both", "0"), ("both", "1"), ("only_b", "2")]
        only_b = page.text.split('data-presence="only_b"', 1)[1].split("</tr>", 1)[0]
        assert "only in B" in only_b  # in words, not by colour alone
        assert "&lt;script&gt;" in only_b
        assert XSS not in page.text
        root = page.text.split('data-presence="both"', 1)[1].split("</tr>", 1)[0]
        assert "30.0 ms" in root
        assert "50.0 ms" in root
        assert "+20.0 ms" in root
        swapped = client.get("/traces/compare", params={"a": b, "b": a})
        assert "1 only in A, 0 only in B" in swapped.text

        empty = client.get("/traces/compare")
        assert empty.status_code == 200
        assert 'id="cmp-a"' in empty.text
        bad = client.get("/traces/compare", params={"a": "nope", "b": b})
        assert bad.status_code == 422
        assert "Trace A is 32 hexadecimal digits." in bad.text
        missing = client.get("/traces/compare", params={"a": a, "b": "0" * 32})
        assert missing.status_code == 404
        assert "No spans of trace B" in missing.text


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_go_resolves_a_span_id_to_its_trace(console: Console) -> None:
    front, back = _unique("front"), _unique("back")
    trace_id, spans = _call(front, back, time.time_ns() - 10**9, 10)
    _send(console, spans)
    _stored(console, [trace_id])
    span_id = spans[back][0]["spanId"]
    with console.signed_in() as client:
        went = client.get(f"/go/{span_id.upper()}")
        assert went.status_code == 303
        assert went.headers["location"] == f"/traces/{trace_id}?span={span_id}#span-{span_id}"
        page = client.get(went.headers["location"])
        assert f'data-span-id="{span_id}"' in page.text
        assert client.get(f"/go/{os.urandom(8).hex()}").status_code == 404


# -- the dependency graph on /services


def test_the_dependency_graph_is_laid_out_by_the_graph_layout() -> None:
    deps = Dependencies(
        since=T0,
        until=T0,
        services=["api", "db", "worker"],
        edges=[
            DependencyEdge(parent="api", child="worker", call_count=5, error_count=1),
            DependencyEdge(parent="worker", child="db", call_count=3, error_count=0),
            DependencyEdge(parent="db", child="api", call_count=1, error_count=0),  # a cycle
        ],
    )
    drawn = deps_graph.view(deps, "last hour")
    assert drawn is not None
    by_name = {n.name: n for n in drawn.nodes}
    assert by_name["api"].y < by_name["worker"].y < by_name["db"].y  # layered, top down
    assert [(e.source, e.target, e.back) for e in drawn.edges] == [
        ("api", "worker", False),
        ("worker", "db", False),
        ("db", "api", True),
    ]
    assert (by_name["worker"].calls_in, by_name["worker"].calls_out) == (5, 3)
    assert all(e.d.startswith("M") for e in drawn.edges)
    assert "3 services and 3 edges, 9 calls" in drawn.desc
    assert deps_graph.view(Dependencies(since=T0, until=T0, services=[], edges=[]), "x") is None


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_services_page_draws_the_dependencies_from_spans(console: Console) -> None:
    front, back = _unique("front"), _unique("back")
    ids = []
    for i in range(2):
        trace_id, spans = _call(front, back, time.time_ns() - 10**9 + i, 5, error=(i == 0))
        _send(console, spans)
        ids.append(trace_id)
    _stored(console, ids)
    with console.signed_in() as client:
        page = client.get("/services", params={"since": "15m"})
        assert page.status_code == 200
        assert '<svg xmlns="http://www.w3.org/2000/svg" class="run-graph deps-graph"' in page.text
        assert f'data-node="{front}"' in page.text
        row = page.text.split(f'<tr data-edge="{front}→{back}">', 1)[1].split("</tr>", 1)[0]
        assert f'<a href="/services/{back}">{back}</a>' in row
        assert "<td>2</td>" in row
        assert "✖</span> 1" in row  # one failed call, in words and glyph
        assert '<option value="15m" selected>' in page.text
        # the services part still answers with a window it does not know
        odd = client.get("/services", params={"since": "forever"})
        assert odd.status_code == 422
        assert 'id="h-deps"' in odd.text

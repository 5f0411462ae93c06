"""The waterfall's geometry, critical path, collapsing and row budget (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eco_console.service.waterfall import ancestors, critical_path, layout
from eco_shared.adapters.log_collector import SpanOut

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def span(
    sid: str, start_ms: float, end_ms: float, *children: SpanOut, parent: str | None = None
) -> SpanOut:
    return SpanOut(
        trace_id="t" * 32,
        span_id=sid,
        parent_span_id=parent,
        service="svc",
        name=sid,
        kind="internal",
        start=T0 + timedelta(milliseconds=start_ms),
        end=T0 + timedelta(milliseconds=end_ms),
        duration_ms=end_ms - start_ms,
        children=list(children),
    )


def tree() -> SpanOut:
    # root 0..100; a 0..30; b 20..90 (ends last) with b1 25..40 and b2 50..88 (ends last in b)
    return span(
        "root",
        0,
        100,
        span("a", 0, 30),
        span("b", 20, 90, span("b1", 25, 40), span("b2", 50, 88)),
    )


def test_offsets_and_widths_are_shares_of_the_trace() -> None:
    rows = {r.span.span_id: r for r in layout([tree()], open_depth=10, budget=100).rows}
    assert list(rows) == ["root", "a", "b", "b1", "b2"]  # parents first, in order
    assert (rows["root"].offset_pct, rows["root"].width_pct) == (0.0, 100.0)
    assert (rows["b"].offset_pct, rows["b"].width_pct) == (20.0, 70.0)
    assert (rows["b2"].offset_pct, rows["b2"].width_pct) == (50.0, 38.0)
    assert [rows[s].depth for s in ("root", "a", "b", "b1")] == [0, 1, 1, 2]
    assert rows["b"].descendants == 2
    assert rows["root"].descendants == 4


def test_a_zero_length_span_is_still_visible() -> None:
    rows = layout([span("r", 0, 10, span("z", 5, 5))], open_depth=5, budget=10).rows
    assert rows[1].width_pct > 0
    assert rows[1].offset_pct == 50.0


def test_the_critical_path_follows_what_ended_last() -> None:
    assert critical_path([tree()]) == ["root", "b", "b2"]
    rows = layout([tree()], open_depth=10, budget=100).rows
    assert {r.span.span_id for r in rows if r.critical} == {"root", "b", "b2"}


def test_deep_rows_start_collapsed_unless_revealed() -> None:
    waterfall = layout([tree()], open_depth=1, budget=100)
    ids = [r.span.span_id for r in waterfall.rows]
    assert ids == ["root", "a", "b"]
    b = waterfall.rows[2]
    assert b.collapsed
    assert b.descendants == 2
    assert ancestors([tree()], "b2") == ["root", "b"]
    revealed = layout([tree()], open_depth=1, budget=100, reveal=["root", "b"])
    assert [r.span.span_id for r in revealed.rows] == ["root", "a", "b", "b1", "b2"]


def test_the_row_budget_pages_a_huge_trace() -> None:
    children = [span(f"c{i}", i * 0.01, i * 0.01 + 1) for i in range(5000)]
    root = span("root", 0, 60, *children)
    first = layout([root], open_depth=4, budget=400)
    assert len(first.rows) == 400
    assert first.total == 5001
    assert first.next_start == 400
    assert first.remaining == 4601
    last = layout([root], open_depth=4, budget=400, start=4800)
    assert len(last.rows) == 201
    assert last.next_start is None
    assert last.rows[-1].span.span_id == "c4999"


def test_a_subtree_is_placed_inside_its_whole_trace() -> None:
    b = tree().children[1]
    sub = layout(b.children, open_depth=4, budget=10, trace_start=T0, trace_ms=100.0, base_depth=2)
    assert [(r.span.span_id, r.depth, r.offset_pct) for r in sub.rows] == [
        ("b1", 2, 25.0),
        ("b2", 2, 50.0),
    ]


def test_a_very_deep_trace_does_not_recurse() -> None:
    node = span("leaf", 0, 1)
    for i in range(3000):
        node = span(f"s{i}", 0, 1, node)
    waterfall = layout([node], open_depth=3, budget=50)
    assert len(waterfall.rows) == 4
    assert waterfall.rows[-1].collapsed
    assert waterfall.rows[-1].descendants == 2997

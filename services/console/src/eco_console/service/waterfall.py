"""A trace's waterfall, laid out on the server: rows, their bars, the critical path.

Offsets and widths are percentages of the trace's duration, so the page draws bars with
nothing but CSS. Rows deeper than `open_depth` start collapsed (their subtree is fetched on
demand) and at most `budget` rows are drawn at once, so a trace of thousands of spans stays
a page of a few hundred rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from eco_shared.adapters.log_collector import SpanOut

MIN_WIDTH_PCT = 0.25


@dataclass(frozen=True, slots=True)
class Row:
    """One drawn span."""

    span: SpanOut
    depth: int
    offset_pct: float
    width_pct: float
    descendants: int
    collapsed: bool
    critical: bool

    @property
    def has_children(self) -> bool:
        return bool(self.span.children)


@dataclass(frozen=True, slots=True)
class Waterfall:
    """The rows to draw now, and how many visible rows come after them."""

    rows: list[Row]
    start: int
    total: int
    duration_ms: float
    critical: frozenset[str] = field(default_factory=frozenset)

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.start - len(self.rows))

    @property
    def next_start(self) -> int | None:
        return self.start + len(self.rows) if self.remaining else None


def walk(spans: Iterable[SpanOut]) -> Iterator[SpanOut]:
    """Every span of the trees, parents before children."""
    stack = list(reversed(list(spans)))
    while stack:
        span = stack.pop()
        yield span
        stack.extend(reversed(span.children))


def count_descendants(spans: Iterable[SpanOut]) -> dict[str, int]:
    """Descendants per span id (iterative: deep traces do not hit the recursion limit)."""
    counts: dict[str, int] = {}
    order = list(walk(spans))
    for span in reversed(order):
        counts[span.span_id] = sum(1 + counts[c.span_id] for c in span.children)
    return counts


def bounds(roots: Sequence[SpanOut]) -> tuple[datetime, float]:
    """The trace's start and its duration in milliseconds (at least a microsecond)."""
    spans = list(walk(roots))
    start = min(s.start for s in spans)
    end = max(s.end for s in spans)
    return start, max((end - start).total_seconds() * 1000, 0.001)


def critical_path(roots: Sequence[SpanOut]) -> list[str]:
    """From the root that ends last, each step the child that ends last: what the end waited on."""
    if not roots:
        return []
    path = []
    span: SpanOut | None = max(roots, key=lambda s: s.end)
    while span is not None:
        path.append(span.span_id)
        span = max(span.children, key=lambda s: s.end) if span.children else None
    return path


def ancestors(roots: Sequence[SpanOut], span_id: str) -> list[str] | None:
    """The ids from a root down to `span_id`'s parent; None when the span is not there."""
    stack: list[tuple[SpanOut, list[str]]] = [(r, []) for r in reversed(roots)]
    while stack:
        span, above = stack.pop()
        if span.span_id == span_id:
            return above
        stack.extend((c, [*above, span.span_id]) for c in reversed(span.children))
    return None


def find(roots: Sequence[SpanOut], span_id: str) -> SpanOut | None:
    return next((s for s in walk(roots) if s.span_id == span_id), None)


def layout(
    roots: Sequence[SpanOut],
    *,
    open_depth: int,
    budget: int,
    start: int = 0,
    reveal: Iterable[str] = (),
    trace_start: datetime | None = None,
    trace_ms: float | None = None,
    base_depth: int = 0,
) -> Waterfall:
    """The visible rows `start..start+budget` of these trees.

    A span at depth `open_depth` or below with children is drawn collapsed unless it is in
    `reveal` (the ancestors of a deep-linked span). `trace_start`/`trace_ms` place a subtree
    inside its whole trace; `base_depth` is the depth of `roots` in it.
    """
    if not roots:
        return Waterfall(rows=[], start=0, total=0, duration_ms=0.0)
    if trace_start is None or trace_ms is None:
        trace_start, trace_ms = bounds(roots)
    opened = set(reveal)
    critical = frozenset(critical_path(roots)) if base_depth == 0 else frozenset()
    descendants = count_descendants(roots)
    visible: list[tuple[SpanOut, int, bool]] = []
    stack = [(r, base_depth) for r in reversed(roots)]
    while stack:
        span, depth = stack.pop()
        collapsed = (
            bool(span.children) and depth - base_depth >= open_depth and span.span_id not in opened
        )
        visible.append((span, depth, collapsed))
        if not collapsed:
            stack.extend((c, depth + 1) for c in reversed(span.children))
    rows = []
    for span, depth, collapsed in visible[start : start + budget]:
        offset = (span.start - trace_start).total_seconds() * 1000 / trace_ms * 100
        width = span.duration_ms / trace_ms * 100
        offset = min(max(offset, 0.0), 100.0)
        rows.append(
            Row(
                span=span,
                depth=depth,
                offset_pct=round(offset, 3),
                width_pct=round(min(max(width, MIN_WIDTH_PCT), 100.0 - offset), 3),
                descendants=descendants[span.span_id],
                collapsed=collapsed,
                critical=span.span_id in critical,
            )
        )
    return Waterfall(
        rows=rows, start=start, total=len(visible), duration_ms=trace_ms, critical=critical
    )

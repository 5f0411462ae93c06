"""The services' dependency graph from spans, laid out on the server for an inline SVG.

Edges are the log collector's `GET /dependencies` (a child span of one service under a
parent span of another is one call); the layout is the run graph's own layered layout
(`layout.place`), so both pictures are drawn by one piece of code.
"""

from __future__ import annotations

from dataclasses import dataclass

from eco_shared.adapters.log_collector import Dependencies

from .layout import Box, place


@dataclass(frozen=True, slots=True)
class DepNode(Box):
    """A service where it is drawn."""

    name: str
    calls_in: int
    calls_out: int

    @property
    def text(self) -> str:
        """The name as drawn in its box (long ones shortened; the title has it whole)."""
        return self.name if len(self.name) <= 20 else self.name[:19] + "…"


@dataclass(frozen=True, slots=True)
class DepEdge:
    """Calls from `source` to `target` as an SVG path."""

    source: str
    target: str
    calls: int
    errors: int
    back: bool
    d: str


@dataclass(frozen=True, slots=True)
class DepsView:
    """What `deps_graph.html` draws, and its text alternative (the edges, busiest first)."""

    title: str
    desc: str
    width: int
    height: int
    nodes: list[DepNode]
    edges: list[DepEdge]


def view(deps: Dependencies, window: str) -> DepsView | None:
    """The graph of `deps`; None when no span crossed services in the window."""
    if not deps.edges:
        return None
    ids = deps.services
    pairs = [(e.parent, e.child) for e in deps.edges]
    at = place(ids, pairs)
    calls_in = dict.fromkeys(ids, 0)
    calls_out = dict.fromkeys(ids, 0)
    for e in deps.edges:
        calls_out[e.parent] += e.call_count
        calls_in[e.child] += e.call_count
    nodes = [
        DepNode(
            name=n,
            x=at.top_left(n)[0],
            y=at.top_left(n)[1],
            calls_in=calls_in[n],
            calls_out=calls_out[n],
        )
        for n in ids
    ]
    edges = [
        DepEdge(
            source=e.parent,
            target=e.child,
            calls=e.call_count,
            errors=e.error_count,
            back=(e.parent, e.child) in at.back,
            d=at.path(e.parent, e.child),
        )
        for e in deps.edges
    ]
    total = sum(e.call_count for e in deps.edges)
    return DepsView(
        title=f"Service dependencies, {window}",
        desc=f"{len(ids)} services and {len(edges)} edges, {total} calls; "
        "the table below lists every edge.",
        width=int(at.width),
        height=int(at.height),
        nodes=nodes,
        edges=edges,
    )

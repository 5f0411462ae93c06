"""A run's LangGraph graph, laid out on the server for an inline SVG, with the path it took.

The graph is the orchestrator's own (`get_graph(xray=True)` of the run graph): the run's
workflow stays expanded, every other workflow is one node. The layout is `layout.place`'s
layered one; this module adds the run's state to it: each node's last state and the edges
the run went along. Pure and deterministic: the same graph and events give the same picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eco_shared.models.orchestrator import GraphEdge, GraphNode, WorkflowGraph

from .layout import NODE_H, START, Box, place
from .timeline import NodeStep

END = "__end__"
STATES = {
    "done": ("✔", "done"),
    "running": ("↻", "running"),
    "failed": ("✖", "failed"),
    "not_reached": ("○", "not reached"),
}
# the run statuses whose graph reached its end
ENDED = frozenset({"completed", "needs_clarification"})


@dataclass(frozen=True, slots=True)
class PlacedNode(Box):
    """A node where it is drawn, with its state."""

    id: str
    label: str
    layer: int
    state: str

    @property
    def rx(self) -> float:
        """The corners: the start and the end are pills."""
        return NODE_H / 2 if self.id in (START, END) else 5

    @property
    def glyph(self) -> str:
        return STATES[self.state][0]

    @property
    def state_text(self) -> str:
        return STATES[self.state][1]

    @property
    def text(self) -> str:
        """The label as drawn in its box (long ones shortened; the title has it whole)."""
        return self.label if len(self.label) <= 20 else self.label[:19] + "…"

    @property
    def lines(self) -> list[str]:
        """The label wrapped to fit its box: the node's name, then its workflow (a
        subgraph node's `(workflow)`) on a second line; each line at most LINE_CHARS."""
        name, sep, rest = self.label.partition(" (")
        parts = [name, f"({rest}"] if sep else [self.label]
        return [_fit(part) for part in parts]

    @property
    def line_ys(self) -> list[float]:
        """The baseline of each of `lines`, the block centred in the box."""
        if len(self.lines) == 1:
            return [self.text_y]
        return [self.y + NODE_H / 2 - 2, self.y + NODE_H / 2 + 12]


# what one line of a node box holds (12 px monospace in NODE_W, the glyph included)
LINE_CHARS = 21


def _fit(text: str) -> str:
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


@dataclass(frozen=True, slots=True)
class PlacedEdge:
    """An edge as an SVG path; `taken` when the run went along it."""

    source: str
    target: str
    conditional: bool
    back: bool
    taken: bool
    d: str


@dataclass(frozen=True, slots=True)
class GraphView:
    """Everything `_graph.html` draws: the SVG's geometry and the text alternative."""

    title: str
    desc: str
    width: int
    height: int
    nodes: list[PlacedNode]
    edges: list[PlacedEdge]
    ran: list[PlacedNode]  # in the order they ran
    not_reached: list[PlacedNode]


def label_of(node: GraphNode) -> str:
    """`__start__` → start; a subgraph's node names its workflow: `analyze (api_documentation)`."""
    if node.id in (START, END):
        return node.id.strip("_")
    workflow, _, _ = node.id.rpartition(":")
    return f"{node.label} ({workflow})" if workflow else node.label


def collapse(graph: WorkflowGraph, keep: str | None) -> WorkflowGraph:
    """The graph with each subgraph but `keep`'s drawn as one node named after its workflow."""

    def owner(node_id: str) -> str:
        workflow, sep, _ = node_id.partition(":")
        return node_id if not sep or workflow == keep else workflow

    nodes: dict[str, GraphNode] = {}
    for n in graph.nodes:
        nid = owner(n.id)
        nodes.setdefault(nid, n if nid == n.id else GraphNode(id=nid, label=nid))
    edges: dict[tuple[str, str], GraphEdge] = {}
    for e in graph.edges:
        s, t = owner(e.source), owner(e.target)
        if s != t and (s, t) not in edges:
            edges[(s, t)] = GraphEdge(source=s, target=t, conditional=e.conditional, label=e.label)
    return WorkflowGraph(name=graph.name, nodes=list(nodes.values()), edges=list(edges.values()))


def _state(steps: Sequence[NodeStep], resolve: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Each node's last state, and every run of a node in order (a retry runs it again)."""
    state: dict[str, str] = {}
    seq: list[str] = []
    for step in steps:
        nid = resolve.get(step.node)
        if nid is not None:
            seq.append(nid)
            state[nid] = step.status
    return state, seq


def taken_edges(seq: Sequence[str], edges: Sequence[GraphEdge]) -> set[tuple[str, str]]:
    """The edges the run went along: into each run of a node, every plain edge from a node
    that ran before it, and the router's edge from the predecessor that ran last before it."""
    preds: dict[str, list[GraphEdge]] = {}
    for e in edges:
        preds.setdefault(e.target, []).append(e)
    taken: set[tuple[str, str]] = set()
    last: dict[str, int] = {}  # node -> where it last ran so far
    for j, node in enumerate(seq):
        before = [(last[e.source], e) for e in preds.get(node, ()) if e.source in last]
        if before:
            latest = max(i for i, _ in before)
            taken |= {(e.source, e.target) for i, e in before if not e.conditional or i == latest}
        last[node] = j
    return taken


def view(
    graph: WorkflowGraph,
    *,
    run_id: str,
    workflow: str | None,
    run_status: str,
    steps: Sequence[NodeStep],
    current_node: str | None = None,
) -> GraphView:
    """The run's graph laid out, its nodes in their states and the path it took marked."""
    g = collapse(graph, workflow)
    ids = [n.id for n in g.nodes]
    labels = {n.id: label_of(n) for n in g.nodes}
    pairs = [(e.source, e.target) for e in g.edges]
    at = place(ids, pairs)
    back, layer, width, height = at.back, at.layer, at.width, at.height

    # node states from the run's events; the subgraph's nodes are named without their prefix
    resolve = {i: i for i in ids if ":" not in i}
    resolve |= {i.partition(":")[2]: i for i in ids if workflow and i.startswith(workflow + ":")}
    state, seq = _state(steps, resolve)
    if not steps and current_node in resolve:
        state[resolve[current_node]] = "running"
        seq = [resolve[current_node]]
    if seq:
        state.setdefault(START, "done")
        seq.insert(0, START)
    if run_status in ENDED and END in labels:
        state[END] = "done"
        seq.append(END)
    ran = list(dict.fromkeys(seq))
    taken = taken_edges(seq, g.edges)

    nodes = [
        PlacedNode(
            id=n,
            label=labels[n],
            layer=layer[n],
            x=at.top_left(n)[0],
            y=at.top_left(n)[1],
            state=state.get(n, "not_reached"),
        )
        for n in ids
    ]
    placed = {n.id: n for n in nodes}

    edges = [
        PlacedEdge(
            source=e.source,
            target=e.target,
            conditional=e.conditional,
            back=(e.source, e.target) in back,
            taken=(e.source, e.target) in taken,
            d=at.path(e.source, e.target),
        )
        for e in g.edges
    ]
    path = " → ".join(labels[n] for n in ran) or "none yet"
    return GraphView(
        title=f"Graph of run {run_id}" + (f" ({workflow})" if workflow else ""),
        desc=f"{len(ids)} nodes and {len(pairs)} edges; the path taken: {path}.",
        width=int(width),
        height=int(height),
        nodes=nodes,
        edges=edges,
        ran=[placed[n] for n in ran],
        not_reached=[n for n in nodes if n.id not in state],
    )

"""A run's LangGraph graph, laid out on the server for an inline SVG, with the path it took.

The graph is the orchestrator's own (`get_graph(xray=True)` of the run graph): the run's
workflow stays expanded, every other workflow is one node. The layout is layered: each node's
layer is its longest path from `__start__` (back edges, found by a depth-first search, left
out); an edge across several layers passes through virtual points, one a layer, that are
ordered with the nodes; a few barycentre sweeps (down, up, down) order each layer to cut
crossings. Pure and deterministic: the same graph and events give the same picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eco_shared.models.orchestrator import GraphEdge, GraphNode, WorkflowGraph

from .timeline import NodeStep

START, END = "__start__", "__end__"
NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 168, 36, 28, 34, 16
SWEEPS = 3
STATES = {
    "done": ("✔", "done"),
    "running": ("↻", "running"),
    "failed": ("✖", "failed"),
    "not_reached": ("○", "not reached"),
}
# the run statuses whose graph reached its end
ENDED = frozenset({"completed", "needs_clarification"})


@dataclass(frozen=True, slots=True)
class PlacedNode:
    """A node where it is drawn (`x`, `y`: its top left), with its state."""

    id: str
    label: str
    layer: int
    x: float
    y: float
    state: str

    width = NODE_W
    height = NODE_H

    @property
    def cx(self) -> float:
        return self.x + NODE_W / 2

    @property
    def text_y(self) -> float:
        return self.y + NODE_H / 2 + 5

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


def back_edges(ids: Sequence[str], edges: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """The edges that close a cycle, in a depth-first search from `__start__` (then from
    any node not reached yet, in the graph's order)."""
    succ: dict[str, list[str]] = {i: [] for i in ids}
    for s, t in edges:
        succ[s].append(t)
    state: dict[str, int] = {}  # 1 on the stack, 2 finished
    back: set[tuple[str, str]] = set()
    roots = [START, *ids] if START in succ else list(ids)
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(succ[child])))
    return back


def layering(ids: Sequence[str], forward: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Each node's longest path from a source over the forward (acyclic) edges."""
    indegree = dict.fromkeys(ids, 0)
    succ: dict[str, list[str]] = {i: [] for i in ids}
    for s, t in forward:
        succ[s].append(t)
        indegree[t] += 1
    layer = dict.fromkeys(ids, 0)
    ready = [i for i in ids if indegree[i] == 0]
    while ready:
        node = ready.pop(0)
        for t in succ[node]:
            layer[t] = max(layer[t], layer[node] + 1)
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    return layer


def ordering(
    layer: dict[str, int], links: Sequence[tuple[str, str]], sweeps: int = SWEEPS
) -> list[list[str]]:
    """Each layer's nodes left to right: first as given, then barycentre sweeps (each node
    at the mean centred position of its neighbours in the layer before; ties keep order)."""
    rows: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node, depth in layer.items():
        rows[depth].append(node)
    preds: dict[str, list[str]] = {n: [] for n in layer}
    succs: dict[str, list[str]] = {n: [] for n in layer}
    for s, t in links:
        succs[s].append(t)
        preds[t].append(s)

    def centred(row: list[str]) -> dict[str, float]:
        return {n: i - (len(row) - 1) / 2 for i, n in enumerate(row)}

    def sweep(order: range, neighbours: dict[str, list[str]], step: int) -> None:
        for depth in order:
            near = centred(rows[depth - step])
            here = centred(rows[depth])
            rows[depth].sort(key=lambda n, a=near, b=here: _barycentre(n, a, b, neighbours))

    for i in range(sweeps):
        sweep(range(1, len(rows)), preds, 1)
        if i < sweeps - 1:
            sweep(range(len(rows) - 2, -1, -1), succs, -1)
    return rows


def _barycentre(
    node: str, near: dict[str, float], here: dict[str, float], neighbours: dict[str, list[str]]
) -> tuple[float, float]:
    xs = [near[m] for m in neighbours[node] if m in near]
    return (sum(xs) / len(xs) if xs else here[node], here[node])


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
    back = back_edges(ids, pairs)
    forward = [p for p in pairs if p not in back]
    layer = layering(ids, forward)

    # an edge across layers goes through one virtual point a layer
    chains: dict[tuple[str, str], list[str]] = {}
    links: list[tuple[str, str]] = []
    depth = dict(layer)
    for s, t in forward:
        chain = [s]
        for d in range(layer[s] + 1, layer[t]):
            virtual = f"\x00{s}\x00{t}\x00{d}"
            depth[virtual] = d
            chain.append(virtual)
        chain.append(t)
        chains[(s, t)] = chain
        links.extend(zip(chain, chain[1:], strict=False))
    rows = ordering(depth, links)

    widest = max((len(r) for r in rows), default=1)
    width = 2 * MARGIN + widest * NODE_W + (widest - 1) * GAP_X
    height = 2 * MARGIN + len(rows) * NODE_H + max(len(rows) - 1, 0) * GAP_Y
    centre: dict[str, tuple[float, float]] = {}
    for d, row in enumerate(rows):
        for i, n in enumerate(row):
            x = width / 2 + (i - (len(row) - 1) / 2) * (NODE_W + GAP_X)
            centre[n] = (x, MARGIN + d * (NODE_H + GAP_Y) + NODE_H / 2)

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
            x=centre[n][0] - NODE_W / 2,
            y=centre[n][1] - NODE_H / 2,
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
            d=_path(chains.get((e.source, e.target)), centre, e.source, e.target),
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


def _path(
    chain: list[str] | None, centre: dict[str, tuple[float, float]], source: str, target: str
) -> str:
    """Down through the chain's points (bottom of the source to the top of the target), or,
    for a back edge, out of the source's right side and up into the target's."""
    half = NODE_H / 2
    if chain is None:
        (sx, sy), (tx, ty) = centre[source], centre[target]
        right = max(sx, tx) + NODE_W / 2
        return (
            f"M{sx + NODE_W / 2:.1f},{sy:.1f} C{right + 40:.1f},{sy:.1f} "
            f"{right + 40:.1f},{ty:.1f} {tx + NODE_W / 2:.1f},{ty:.1f}"
        )
    points = [centre[n] for n in chain]
    points[0] = (points[0][0], points[0][1] + half)
    points[-1] = (points[-1][0], points[-1][1] - half - 4)  # room for the arrowhead
    d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
    for (ax, ay), (bx, by) in zip(points, points[1:], strict=False):
        mid = (ay + by) / 2
        d += f" C{ax:.1f},{mid:.1f} {bx:.1f},{mid:.1f} {bx:.1f},{by:.1f}"
    return d

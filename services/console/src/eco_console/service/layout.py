"""A layered layout of any directed graph, for the console's server-drawn SVG pictures.

Each node's layer is its longest path from the sources (`__start__` first); back edges,
found by a depth-first search, are left out of the layering; an edge across several layers
passes through virtual points, one a layer, that are ordered with the nodes; a few
barycentre sweeps (down, up, down) order each layer to cut crossings. Pure and
deterministic. The run graph (`graph`), the PROV graph (`prov_graph`) and the service
dependency graph (`deps_graph`) are all drawn by it, so they read the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

START = "__start__"
NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 168, 36, 28, 34, 16
SWEEPS = 3


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


@dataclass(frozen=True, slots=True)
class Box:
    """A node's box where it is drawn (`x`, `y`: its top left), NODE_W × NODE_H."""

    x: float
    y: float

    width = NODE_W
    height = NODE_H

    @property
    def cx(self) -> float:
        return self.x + NODE_W / 2

    @property
    def text_y(self) -> float:
        """The baseline of one line of text centred in the box."""
        return self.y + NODE_H / 2 + 5


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a layered layout puts each node (its centre) and how big the drawing is."""

    back: set[tuple[str, str]]
    layer: dict[str, int]
    chains: dict[tuple[str, str], list[str]]
    centre: dict[str, tuple[float, float]]
    width: float
    height: float

    def top_left(self, node: str) -> tuple[float, float]:
        """Where `node`'s box starts (its `Box.x`, `Box.y`)."""
        cx, cy = self.centre[node]
        return cx - NODE_W / 2, cy - NODE_H / 2

    def path(self, source: str, target: str) -> str:
        """The SVG path of the edge `source` → `target`."""
        return _path(self.chains.get((source, target)), self.centre, source, target)


def place(ids: Sequence[str], pairs: Sequence[tuple[str, str]]) -> Placement:
    """Any directed graph laid out in layers (a back edge, closing a cycle, left out of the
    layering), top to bottom, each layer centred; nodes are NODE_W × NODE_H."""
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
    return Placement(back, layer, chains, centre, width, height)


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

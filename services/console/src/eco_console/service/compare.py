"""Two traces compared by their structure (as Jaeger's trace comparison does).

Spans are matched by their path of (service, operation) from the root: every span with the
same path is one node, with how many spans and how much time it holds in each trace. A
node only one trace has is marked as such, in words. Pure: the same two traces give the
same table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eco_shared.adapters.log_collector import SpanOut

Step = tuple[str, str]  # (service, operation)
Path = tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Node:
    """One path of the merged tree, with what each trace has there."""

    path: Path
    count_a: int
    count_b: int
    ms_a: float
    ms_b: float

    @property
    def depth(self) -> int:
        return len(self.path) - 1

    @property
    def service(self) -> str:
        return self.path[-1][0]

    @property
    def operation(self) -> str:
        return self.path[-1][1]

    @property
    def presence(self) -> str:
        """`both`, `only_a` or `only_b`."""
        if self.count_a and self.count_b:
            return "both"
        return "only_a" if self.count_a else "only_b"

    @property
    def delta_ms(self) -> float:
        """B's time here less A's (positive: B spent longer)."""
        return self.ms_b - self.ms_a

    @property
    def delta_count(self) -> int:
        return self.count_b - self.count_a


@dataclass(frozen=True, slots=True)
class Comparison:
    """The merged tree in order (parents before children), and its totals."""

    nodes: list[Node]

    @property
    def only_a(self) -> int:
        return sum(1 for n in self.nodes if n.presence == "only_a")

    @property
    def only_b(self) -> int:
        return sum(1 for n in self.nodes if n.presence == "only_b")

    @property
    def changed(self) -> int:
        """Nodes both traces have, with a different number of spans."""
        return sum(1 for n in self.nodes if n.presence == "both" and n.delta_count)


def _aggregate(roots: Sequence[SpanOut]) -> tuple[dict[Path, tuple[int, float]], list[Path]]:
    """Spans and milliseconds per path, and the paths in the order a walk first meets them."""
    found: dict[Path, tuple[int, float]] = {}
    order: list[Path] = []
    stack: list[tuple[SpanOut, Path]] = [(r, ()) for r in reversed(roots)]
    while stack:  # iterative: a deep trace does not hit the recursion limit
        span, above = stack.pop()
        path = (*above, (span.service, span.name))
        count, ms = found.get(path, (0, 0.0))
        if not count:
            order.append(path)
        found[path] = (count + 1, ms + span.duration_ms)
        stack.extend((c, path) for c in reversed(span.children))
    return found, order


def compare(a: Sequence[SpanOut], b: Sequence[SpanOut]) -> Comparison:
    """The span trees `a` and `b` merged by (service, operation) path; siblings in the order
    A first has them, then those only B has."""
    in_a, order_a = _aggregate(a)
    in_b, order_b = _aggregate(b)
    rank = {p: i for i, p in enumerate(dict.fromkeys([*order_a, *order_b]))}
    children: dict[Path, list[Path]] = {}
    for path in rank:
        children.setdefault(path[:-1], []).append(path)
    for siblings in children.values():
        siblings.sort(key=rank.__getitem__)
    nodes: list[Node] = []
    stack = list(reversed(children.get((), [])))
    while stack:
        path = stack.pop()
        count_a, ms_a = in_a.get(path, (0, 0.0))
        count_b, ms_b = in_b.get(path, (0, 0.0))
        nodes.append(Node(path, count_a, count_b, round(ms_a, 3), round(ms_b, 3)))
        stack.extend(reversed(children.get(path, [])))
    return Comparison(nodes)

"""Two runs compared step by step: the paths they took through the graph, aligned.

A node both runs passed through (its first visit with the other's first, a retry's second
with the other's second) is one row with each run's status, time and service calls; a
node only one run visited is a row of its own, marked as such in words. Pure: the same
two timelines give the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .timeline import NodeStep


@dataclass(frozen=True, slots=True)
class StepPair:
    """One row: a node, and what each run did there (`None`: that run did not pass)."""

    node: str
    a: NodeStep | None
    b: NodeStep | None

    @property
    def presence(self) -> str:
        """`both`, `only_a` or `only_b`."""
        if self.a and self.b:
            return "both"
        return "only_a" if self.a else "only_b"

    @property
    def delta_ms(self) -> float | None:
        """B's time in this node less A's, when both runs timed it."""
        if self.a is None or self.b is None:
            return None
        if self.a.duration_ms is None or self.b.duration_ms is None:
            return None
        return self.b.duration_ms - self.a.duration_ms

    @property
    def differs(self) -> bool:
        """Both runs passed here but ended differently, or called other services."""
        if self.a is None or self.b is None:
            return False
        return self.a.status != self.b.status or _calls(self.a) != _calls(self.b)


def _calls(step: NodeStep) -> list[tuple[str, str]]:
    """The step's service calls, as a sorted list (calls made together finish in any order)."""
    return sorted((str(c.get("service", "")), str(c.get("operation", ""))) for c in step.calls)


@dataclass(frozen=True, slots=True)
class RunComparison:
    """The aligned rows in path order, and their totals."""

    rows: list[StepPair]

    @property
    def only_a(self) -> int:
        return sum(1 for r in self.rows if r.presence == "only_a")

    @property
    def only_b(self) -> int:
        return sum(1 for r in self.rows if r.presence == "only_b")

    @property
    def differing(self) -> int:
        return sum(1 for r in self.rows if r.differs)

    @property
    def same_path(self) -> bool:
        return not self.only_a and not self.only_b


def compare_steps(a: Sequence[NodeStep], b: Sequence[NodeStep]) -> RunComparison:
    """The two timelines aligned node by node, in the order run A took them.

    A node's k-th visit in A is matched with its k-th visit in B: nodes LangGraph runs in
    the same step start in either order, so matching by position would report a detour
    where there is none. A visit only B made is placed after the row of B's visit before it.
    """
    rows: list[StepPair] = []
    index: dict[tuple[str, int], int] = {}
    for key, step in _visits(a):
        index[key] = len(rows)
        rows.append(StepPair(step.node, step, None))
    after = -1  # the row B's previous visit is in
    inserted: list[tuple[int, StepPair]] = []
    for key, step in _visits(b):
        if key in index:
            after = index[key]
            rows[after] = StepPair(step.node, rows[after].a, step)
        else:
            inserted.append((after, StepPair(step.node, None, step)))
    merged: list[StepPair] = [pair for at, pair in inserted if at < 0]
    for i, row in enumerate(rows):
        merged.append(row)
        merged.extend(pair for at, pair in inserted if at == i)
    return RunComparison(merged)


def _visits(steps: Sequence[NodeStep]) -> list[tuple[tuple[str, int], NodeStep]]:
    """Each step keyed by its node and which visit of that node it is (0, 1, ...)."""
    seen: dict[str, int] = {}
    out = []
    for step in steps:
        visit = seen.get(step.node, 0)
        seen[step.node] = visit + 1
        out.append(((step.node, visit), step))
    return out


def elapsed_ms(started: datetime | None, finished: datetime | None) -> float | None:
    """A run's wall time, when it has started and finished."""
    if started is None or finished is None:
        return None
    return (finished - started).total_seconds() * 1000

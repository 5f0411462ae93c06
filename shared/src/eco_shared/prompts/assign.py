"""Sticky experiment assignment: one unit (a user or a run) always lands in the same arm.

The bucket is a pure function of the experiment's salt and the unit id, so every client
that holds the experiment's definition (orchestrator replicas, a restarted process, a
client whose store is down) assigns the same arm without asking anyone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_SPAN = 2**64


def bucket(salt: str, unit_id: str) -> float:
    """The unit's point in [0, 1): the first 8 bytes of sha256("salt:unit") over 2**64."""
    digest = hashlib.sha256(f"{salt}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SPAN


def assign(salt: str, unit_id: str, arms: Sequence[tuple[str, float]]) -> str:
    """The arm `unit_id` is assigned to: walk the cumulative weights, in the declared order.

    Weights are expected to sum to 1 (the store refuses other experiments); should rounding
    leave the bucket past the last boundary, the last arm with a positive weight takes it,
    so a zero-weight arm is never chosen.
    """
    if not arms:
        raise ValueError("an experiment needs at least one arm")
    point = bucket(salt, unit_id)
    cumulative = 0.0
    for name, weight in arms:
        if weight < 0:
            raise ValueError(f"arm {name!r} has a negative weight")
        cumulative += weight
        if weight > 0 and point < cumulative:
            return name
    for name, weight in reversed(arms):
        if weight > 0:
            return name
    raise ValueError("every arm has weight 0")

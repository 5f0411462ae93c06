"""Cross-links of the document page: a services-chain entry to the span that recorded it."""

from __future__ import annotations

from collections.abc import Sequence

from eco_shared.adapters.log_collector import SpanOut
from eco_shared.provenance import ServiceCall

from .waterfall import walk


def chain_spans(chain: Sequence[ServiceCall], roots: Sequence[SpanOut]) -> list[str | None]:
    """For each chain entry, the id of the span of that service that started nearest to it.

    The client span of the call is preferred (the caller's view, as the chain records it),
    else the callee's server span; an entry with no span of its service gets None.
    """
    spans = list(walk(roots))
    linked: list[str | None] = []
    for call in chain:
        candidates = [s for s in spans if s.service == call.service]
        candidates = candidates or [
            s for s in spans if s.kind == "client" and call.service in s.name
        ]
        if not candidates or call.started_at is None:
            linked.append(candidates[0].span_id if candidates else None)
            continue
        started = call.started_at
        best = min(candidates, key=lambda s: abs((s.start - started).total_seconds()))
        linked.append(best.span_id)
    return linked

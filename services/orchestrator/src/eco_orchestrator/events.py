"""Each run's event log: a capped Redis stream per run, replayable by entry id.

The stream entry id is the server-sent event id, so a client reconnecting with
`Last-Event-ID` resumes exactly after the last event it saw, on any replica.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from eco_shared.bus import utc_now_rfc3339
from eco_shared.streams import RawFields, as_text, stream_end, tail, text_fields

FINAL_EVENTS = frozenset(
    {"run.completed", "run.failed", "run.cancelled", "run.needs_clarification"}
)
# after these the run row says the run is finished or paused (it is written first)
SETTLING_EVENTS = FINAL_EVENTS | {"run.waiting_review"}
_MAXLEN = 10_000

RunEvent = dict[str, Any]


def _event(entry_id: Any, raw: RawFields) -> RunEvent:
    fields = text_fields(raw)
    return {
        "id": as_text(entry_id),
        "type": fields.get("type", ""),
        "time": fields.get("time", ""),
        "data": json.loads(fields.get("data") or "{}"),
    }


class RunEventLog:
    """Append, read and follow the events of runs."""

    def __init__(self, redis: aioredis.Redis, prefix: str, retention_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.retention_s = retention_s

    def key(self, run_id: str) -> str:
        """The stream holding one run's events."""
        return f"{self.prefix}eco.orchestrator.run-events:{run_id}"

    async def append(self, run_id: str, type: str, **data: Any) -> str:
        """Add one event; return its id."""
        [entry_id] = await self.append_many(run_id, [(type, data)])
        return entry_id

    async def append_many(
        self, run_id: str, events: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[str]:
        """Add events in order, in one round trip; return their ids."""
        if not events:
            return []
        key = self.key(run_id)
        now = utc_now_rfc3339()
        pipe = self.redis.pipeline(transaction=False)
        for type, data in events:
            fields = {"type": type, "time": now, "data": json.dumps(data, default=str)}
            pipe.xadd(key, fields, maxlen=_MAXLEN, approximate=True)  # type: ignore[arg-type]
        pipe.expire(key, self.retention_s)
        *ids, _ = await pipe.execute()
        return [as_text(entry_id) for entry_id in ids]

    async def read(self, run_id: str, after: str = "0-0", *, count: int = 500) -> list[RunEvent]:
        """The events after id `after` that are there now."""
        start = f"({after}" if after != "0-0" else "-"
        raw = await self.redis.xrange(self.key(run_id), start, "+", count)
        return [_event(entry_id, fields) for entry_id, fields in raw]

    async def end(self, run_id: str) -> str:
        """The id of the run's newest event ("0-0" when there is none)."""
        return await stream_end(self.redis, self.key(run_id))

    async def batches(
        self, run_id: str, after: str, *, idle_ms: int
    ) -> AsyncGenerator[list[RunEvent], None]:
        """Follow the events after `after`; an empty batch after `idle_ms` without any."""
        async for batch in tail(self.redis, self.key(run_id), after, block_ms=idle_ms):
            yield [_event(entry_id, fields) for entry_id, fields in batch]

    async def follow(
        self, run_id: str, after: str, *, idle_ms: int = 15_000
    ) -> AsyncGenerator[RunEvent | None, None]:
        """Events after `after` until a final one; yields None on idle (for keep-alives)."""
        async for batch in self.batches(run_id, after, idle_ms=idle_ms):
            if not batch:
                yield None
                continue
            for event in batch:
                yield event
                if event["type"] in FINAL_EVENTS:
                    return

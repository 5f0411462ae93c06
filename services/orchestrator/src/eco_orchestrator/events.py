"""Each run's event log: a capped Redis stream per run, replayable by entry id.

The stream entry id is the server-sent event id, so a client reconnecting with
`Last-Event-ID` resumes exactly after the last event it saw, on any replica.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from eco_shared.bus import stream_entries, utc_now_rfc3339

FINAL_EVENTS = frozenset(
    {"run.completed", "run.failed", "run.cancelled", "run.needs_clarification"}
)
_MAXLEN = 10_000


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RunEventLog:
    """Append and read the events of runs."""

    def __init__(self, redis: aioredis.Redis, prefix: str, retention_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.retention_s = retention_s

    def key(self, run_id: str) -> str:
        """The stream holding one run's events."""
        return f"{self.prefix}eco.orchestrator.run-events:{run_id}"

    async def append(self, run_id: str, type: str, **data: Any) -> str:
        """Add one event; return its id."""
        key = self.key(run_id)
        fields = {"type": type, "time": utc_now_rfc3339(), "data": json.dumps(data, default=str)}
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(key, fields, maxlen=_MAXLEN, approximate=True)  # type: ignore[arg-type]
        pipe.expire(key, self.retention_s)
        entry_id, _ = await pipe.execute()
        return _text(entry_id)

    async def read(
        self, run_id: str, after: str = "0-0", *, block_ms: int = 0, count: int = 500
    ) -> list[dict[str, Any]]:
        """Events after id `after` (waiting up to `block_ms` for new ones when none)."""
        key = self.key(run_id)
        if block_ms:
            reply = await self.redis.xread({key: after}, count=count, block=block_ms)
            raw = stream_entries(reply)
        else:
            raw = await self.redis.xrange(key, f"({after}" if after != "0-0" else "-", "+", count)
        events = []
        for entry_id, fields in raw:
            f = {_text(k): _text(v) for k, v in fields.items()}
            events.append(
                {
                    "id": _text(entry_id),
                    "type": f.get("type", ""),
                    "time": f.get("time", ""),
                    "data": json.loads(f.get("data") or "{}"),
                }
            )
        return events

    async def follow(
        self, run_id: str, after: str, *, idle_ms: int = 15_000
    ) -> AsyncIterator[dict[str, Any] | None]:
        """Events after `after` until a final one; yields None on idle (for keep-alives)."""
        last = after
        while True:
            events = await self.read(run_id, last, block_ms=idle_ms)
            if not events:
                yield None
                continue
            for event in events:
                last = event["id"]
                yield event
                if event["type"] in FINAL_EVENTS:
                    return

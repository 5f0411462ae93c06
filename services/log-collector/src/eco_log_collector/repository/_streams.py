"""`StreamRepository`: every Redis read of the log collector (lag, drops, the live tail), and
the audit trail's head (the last link appended, kept apart from the database it checks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from eco_log_collector.models import StreamLag
from eco_log_collector.repository._audit import ChainTip
from eco_shared.streams import RawFields, as_text, stream_end, tail

# Redis 6.2 has no `lag`: what lies after the last delivered id is counted up to this
UNDELIVERED_CAP = 10_000
# counted in Redis: the entries themselves would cost the collector ~20 us each to parse
_COUNT_AFTER = """
return #redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
"""
# the head only moves forward, whichever replica appended last
_ADVANCE_HEAD = """
local seq = redis.call('HGET', KEYS[1], 'seq')
if (not seq) or tonumber(seq) < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'hash', ARGV[2])
  return 1
end
return 0
"""


class StreamRepository:
    """The bus streams as the collector reads them outside its consumer groups."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def lag(self, key: str, name: str, group: str) -> StreamLag:
        """Length, pending and undelivered entries of `group` on one stream."""
        length = int(await self.redis.xlen(key))
        try:
            groups = await self.redis.xinfo_groups(key)
        except ResponseError:  # no such stream yet
            groups = []
        info = next((g for g in groups if as_text(g.get("name")) == group), None)
        if info is None:
            return StreamLag(stream=name, length=length, pending=0, undelivered=length, lag=length)
        pending = int(info.get("pending") or 0)
        lag = info.get("lag")
        if lag is not None:
            undelivered = int(lag)
        else:
            last = as_text(info.get("last-delivered-id") or "0-0")
            undelivered = int(
                await self.redis.eval(_COUNT_AFTER, 1, key, f"({last}", str(UNDELIVERED_CAP))
            )
        return StreamLag(
            stream=name,
            length=length,
            pending=pending,
            undelivered=undelivered,
            lag=undelivered + pending,
        )

    async def dropped_records(self, key: str) -> dict[str, int]:
        """Dropped log records reported by every shipper, by instance."""
        out: dict[str, int] = {}
        for instance, count in (await self.redis.hgetall(key)).items():
            try:
                out[as_text(instance)] = int(count)
            except ValueError:
                continue
        return out

    async def end(self, key: str) -> str:
        """The id of the newest entry of a stream ("0-0" when empty)."""
        return await stream_end(self.redis, key)

    def follow(
        self, key: str, after: str, *, block_ms: int, count: int = 500
    ) -> AsyncIterator[list[tuple[str, RawFields]]]:
        """Entries of `key` after `after` as they arrive (an empty batch when idle)."""
        return tail(self.redis, key, after, block_ms=block_ms, count=count)

    async def audit_head(self, key: str) -> ChainTip | None:
        """The last link the audit trail is known to have had (None before the first)."""
        head = {as_text(k): as_text(v) for k, v in (await self.redis.hgetall(key)).items()}
        try:
            return ChainTip(int(head["seq"]), head["hash"])
        except (KeyError, ValueError):
            return None

    async def advance_audit_head(self, key: str, tip: ChainTip) -> None:
        """Move the head to `tip` unless it is already further."""
        await self.redis.eval(_ADVANCE_HEAD, 1, key, str(tip.seq), tip.hash)

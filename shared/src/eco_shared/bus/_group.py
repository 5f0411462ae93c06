"""The Redis side of one consumer in a consumer group: every command a `Consumer` sends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from eco_shared.streams import RawEntry, as_text, stream_entries

FAILURES_KEY = "eco.bus.failures:"
# Long enough to outlive any sane retry schedule; the field is deleted on ACK or DLQ anyway.
FAILURES_TTL_S = 7 * 24 * 3600
_CURSOR_END = ("0-0", "0")


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMember:
    """Reads, claims and settles the entries of one named consumer of `group` on `key`.

    A failure's reason is kept in a hash beside the group (`FAILURES_KEY`), so whoever
    dead-letters the entry later, even another consumer, can say why it kept failing.
    """

    redis: aioredis.Redis
    key: str
    group: str
    name: str
    failures_key: str
    dlq_key: str
    batch_size: int
    dlq_maxlen: int

    async def read_new(self, block_ms: int) -> list[RawEntry]:
        """Entries never delivered to the group, waiting up to `block_ms` for some."""
        reply = await self.redis.xreadgroup(
            self.group, self.name, {self.key: ">"}, count=self.batch_size, block=block_ms
        )
        return stream_entries(reply)

    async def read_own(self, after: Any) -> list[RawEntry]:
        """This consumer's own pending entries after `after` (deleted ones have no fields)."""
        reply = await self.redis.xreadgroup(
            self.group, self.name, {self.key: after}, count=self.batch_size
        )
        return stream_entries(reply)

    async def autoclaim(
        self, cursor: str, idle_ms: int
    ) -> tuple[str | None, list[RawEntry], list[str]]:
        """XAUTOCLAIM one page: the next cursor (None at the end), live entries, deleted ids."""
        reply = await self.redis.xautoclaim(
            self.key, self.group, self.name, idle_ms, cursor, count=self.batch_size
        )
        next_cursor = as_text(reply[0])
        claimed = reply[1] or []
        # Redis 7 lists deleted ids third; Redis 6.2 returns them as nil entries
        deleted = [as_text(entry_id) for entry_id in reply[2]] if len(reply) > 2 else []
        live = [(entry_id, fields) for entry_id, fields in claimed if entry_id is not None]
        if len(live) < len(claimed):
            deleted += await self._find_deleted(cursor, next_cursor)
        return (None if next_cursor in _CURSOR_END else next_cursor), live, deleted

    async def _find_deleted(self, start: str, end: str) -> list[str]:
        """Own pending ids in [start, end] whose entries no longer exist (Redis 6.2 only)."""
        if end in _CURSOR_END:
            end = "+"
        pending = await self.redis.xpending_range(
            self.key, self.group, start, end, self.batch_size * 4, consumername=self.name
        )
        ids = [as_text(p["message_id"]) for p in pending]
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xrange(self.key, entry_id, entry_id, count=1)
        found = await pipe.execute()
        return [entry_id for entry_id, rows in zip(ids, found, strict=True) if not rows]

    async def drop(self, entry_ids: list[str]) -> None:
        """ACK entries and forget their failures (entries deleted from the stream)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.key, self.group, *entry_ids)
        pipe.hdel(self.failures_key, *entry_ids)
        await pipe.execute()

    async def deliveries(self, ids: list[str]) -> tuple[dict[str, int], dict[str, str]]:
        """Delivery counts (from XPENDING) and recorded reasons of the ids still ours."""
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xpending_range(self.key, self.group, entry_id, entry_id, 1)
        pipe.hmget(self.failures_key, ids)
        *pending, reasons = await pipe.execute()
        deliveries: dict[str, int] = {}
        recorded: dict[str, str] = {}
        for entry_id, rows, reason in zip(ids, pending, reasons, strict=True):
            # gone from our PEL: ACKed or taken by someone else in the meantime
            if not rows or as_text(rows[0]["consumer"]) != self.name:
                continue
            deliveries[entry_id] = int(rows[0]["times_delivered"])
            if reason is not None:
                recorded[entry_id] = as_text(reason)
        return deliveries, recorded

    async def settle(
        self,
        ack_ids: list[str],
        *,
        forget: list[str],
        record: Mapping[str, str],
        dead: Sequence[tuple[str, Mapping[Any, Any]]],
    ) -> None:
        """ACK, record failure reasons, and move `dead` (id, DLQ fields) to the DLQ atomically."""
        if not (forget or record or dead):
            if ack_ids:
                await self.redis.xack(self.key, self.group, *ack_ids)
            return
        pipe = self.redis.pipeline(transaction=True)
        if ack_ids:
            pipe.xack(self.key, self.group, *ack_ids)
        if record:
            pipe.hset(self.failures_key, mapping=dict(record))  # type: ignore[arg-type]
            pipe.expire(self.failures_key, FAILURES_TTL_S)
        if dead:
            for _, fields in dead:
                pipe.xadd(self.dlq_key, dict(fields), maxlen=self.dlq_maxlen, approximate=True)
            dead_ids = [entry_id for entry_id, _ in dead]
            pipe.xack(self.key, self.group, *dead_ids)
            forget = [*forget, *dead_ids]
        if forget:
            pipe.hdel(self.failures_key, *forget)
        await pipe.execute()

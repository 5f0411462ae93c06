"""Reading Redis streams: reply values as text, XREAD replies as entries, and `tail`.

The discovery watch feed, the log tail and each run's event stream all follow a stream
with `tail`, so the pinning of the start, the RESP2/RESP3 reply shapes and recovery from
a Redis outage are written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

RawFields = Mapping[Any, Any]
RawEntry = tuple[Any, RawFields]


def as_text(value: Any) -> str:
    """A Redis reply value (bytes or str) as str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def text_fields(fields: RawFields) -> dict[str, str]:
    """A stream entry's fields with keys and values as str."""
    return {as_text(k): as_text(v) for k, v in fields.items()}


def stream_entries(reply: Any) -> list[RawEntry]:
    """The entries of the single stream in an XREAD(GROUP) reply (RESP2 list or RESP3 dict)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        entries = next(iter(reply.values()))
        # RESP3 legacy shape wraps the list once more
        if entries and isinstance(entries[0], list):
            entries = entries[0]
        return list(entries)
    return list(reply[0][1])


async def stream_end(redis: aioredis.Redis, key: str) -> str:
    """The id of the newest entry of a stream ("0-0" when empty or missing).

    Pin this before following "new" entries: passing "$" to every XREAD would drop
    entries that arrive between two reads.
    """
    newest = await redis.xrevrange(key, "+", "-", count=1)
    return as_text(newest[0][0]) if newest else "0-0"


async def tail(
    redis: aioredis.Redis,
    key: str,
    after: str,
    *,
    block_ms: int,
    count: int = 100,
    retry_s: float = 1.0,
) -> AsyncIterator[list[tuple[str, RawFields]]]:
    """Follow `key` from after entry `after`, a batch of `(entry_id, fields)` at a time.

    An empty batch means nothing arrived for `block_ms` (time for a keep-alive). While
    Redis is unreachable the tail waits `retry_s` and reads again from where it was.
    """
    cursor = after
    while True:
        try:
            reply = await redis.xread({key: cursor}, count=count, block=block_ms)
        except (RedisError, OSError) as exc:
            log.warning("stream_read_failed", stream=key, error=str(exc))
            await asyncio.sleep(retry_s)
            continue
        batch = [(as_text(entry_id), fields) for entry_id, fields in stream_entries(reply)]
        if batch:
            cursor = batch[-1][0]
        yield batch

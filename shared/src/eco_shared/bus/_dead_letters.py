"""Dead letters: what a consumer writes to `eco.dlq`, and how it is read back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from eco_shared.bus._event import Event
from eco_shared.streams import RawFields, as_text


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """One entry of the dead-letter stream: the original fields plus why it died."""

    entry_id: str
    stream: str
    group: str
    original_entry_id: str
    source: str
    handler: str
    reason: str
    deliveries: int
    dead_lettered_at: str
    dead_lettered_by: str
    fields: dict[str, str]

    @classmethod
    def from_fields(cls, entry_id: str, raw: RawFields) -> DeadLetter:
        """Read a DLQ stream entry."""
        # not `text_fields`: an entry that died for not being UTF-8 must still be readable
        f = {
            k.decode(errors="replace") if isinstance(k, bytes) else k: (
                v.decode(errors="replace") if isinstance(v, bytes) else v
            )
            for k, v in raw.items()
        }
        try:
            deliveries = int(f.get("deliveries", "0"))
        except ValueError:
            deliveries = 0
        return cls(
            entry_id=entry_id,
            stream=f.get("dlq_stream", ""),
            group=f.get("dlq_group", ""),
            original_entry_id=f.get("dlq_entry_id", ""),
            source=f.get("source", ""),
            handler=f.get("handler", ""),
            reason=f.get("reason", ""),
            deliveries=deliveries,
            dead_lettered_at=f.get("dead_lettered_at", ""),
            dead_lettered_by=f.get("dead_lettered_by", ""),
            fields=f,
        )

    def event(self) -> Event:
        """Decode the original event (for a replay); raise `MalformedEvent` if it was one."""
        return Event.from_fields(self.fields, stream=self.stream, entry_id=self.original_entry_id)


@dataclass(slots=True)
class DeadEntry:
    """A stream entry a consumer has given up on, before it is written to the DLQ."""

    entry_id: str
    fields: RawFields
    reason: str
    deliveries: int

    def dlq_fields(
        self, *, stream: str, group: str, handler: str, consumer: str, now: str
    ) -> dict[Any, Any]:
        """The original fields (keys as text where they decode) plus the dead-letter ones."""
        fields: dict[Any, Any] = {}
        for key, value in self.fields.items():
            if isinstance(key, bytes):
                try:
                    key = key.decode()
                except UnicodeDecodeError:
                    pass
            fields[key] = value
        fields.update(
            dlq_stream=stream,
            dlq_group=group,
            dlq_entry_id=self.entry_id,
            handler=handler,
            reason=self.reason,
            deliveries=str(self.deliveries),
            dead_lettered_at=now,
            dead_lettered_by=consumer,
        )
        return fields


async def read_dead_letters(redis: aioredis.Redis, key: str, count: int) -> list[DeadLetter]:
    """The oldest `count` entries of the dead-letter stream at `key`."""
    entries = await redis.xrange(key, "-", "+", count=count)
    return [
        DeadLetter.from_fields(as_text(entry_id), raw)
        for entry_id, raw in entries or []
        if entry_id is not None and raw is not None
    ]

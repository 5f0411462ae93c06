"""The live tail of `eco.logs`: new records as they are published, filtered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from eco_log_collector.models import LogRecordOut
from eco_log_collector.records import InvalidRecord, log_row, now_us
from eco_log_collector.repository import StreamRepository
from eco_log_collector.service._queries import level_filter
from eco_log_collector.service._views import log_out
from eco_shared.bus import LOGS, Event, MalformedEvent
from eco_shared.problems import Unavailable


@dataclass(frozen=True)
class TailFilter:
    """Which records a follower wants: one service, at or above a level."""

    service: str | None = None
    min_level_no: int | None = None

    @classmethod
    def of(cls, service: str | None, level: str | None) -> TailFilter:
        """The filter of the `service` and `level` query parameters."""
        return cls(service=service, min_level_no=level_filter(level))

    def matches(self, row: dict[str, Any]) -> bool:
        """Whether a parsed log row passes the filter."""
        if self.service and row["service"] != self.service:
            return False
        return self.min_level_no is None or row["level_no"] >= self.min_level_no


class LiveTail:
    """Followers of `eco.logs`, at most `max_clients` at a time."""

    def __init__(
        self, streams: StreamRepository, key: str, *, max_clients: int, block_ms: int
    ) -> None:
        self.streams = streams
        self.key = key
        self.max_clients = max_clients
        self.block_ms = block_ms
        self.clients = 0

    async def start(self, after: str | None) -> str:
        """Where a new follower starts: after `after`, else after the newest entry now.

        503 when `max_clients` followers are already connected.
        """
        if self.clients >= self.max_clients:
            raise Unavailable(
                f"{self.clients} clients are already following the logs; try again later.",
                title="Too many tail clients",
                retry_after_s=5,
            )
        return after or await self.streams.end(self.key)

    async def follow(
        self, start: str, match: TailFilter
    ) -> AsyncIterator[tuple[str, LogRecordOut]]:
        """Matching records after entry `start` as `(entry_id, record)`, until cancelled."""
        self.clients += 1
        try:
            async for batch in self.streams.follow(self.key, start, block_ms=self.block_ms):
                for entry_id, fields in batch:
                    try:
                        event = Event.from_fields(fields, stream=LOGS, entry_id=entry_id)
                        row = log_row(event, now_us())
                    except (MalformedEvent, InvalidRecord):
                        continue
                    if match.matches(row):
                        yield entry_id, log_out(row)
        finally:
            self.clients -= 1

"""Queries: pages of logs, events and ingest errors, and the stats over a window."""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from redis.exceptions import RedisError

from eco_log_collector.models import EventPage, IngestErrorPage, LogPage, Stats
from eco_log_collector.records import clean_text, from_us, level_number
from eco_log_collector.repository import EventQuery, LogQuery, LogRepository, StreamRepository
from eco_log_collector.service._views import event_out, ingest_error_out, log_out
from eco_shared.pagination import cut_page
from eco_shared.problems import Unavailable, ValidationProblem


def level_filter(level: str | None) -> int | None:
    """The minimum level number of a `level` query parameter."""
    return level_number(level) if level else None


# A cursor is the (time_us, id) of the last row, two signed 64-bit integers in urlsafe
# base64: fixed width, so every string of the pattern is a position the schema can promise.
_POSITION = struct.Struct(">qq")
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{22}$"


def encode_position(time_us: int, row_id: int) -> str:
    """The cursor of the position after the row (`time_us`, `row_id`)."""
    return base64.urlsafe_b64encode(_POSITION.pack(time_us, row_id)).decode().rstrip("=")


def decode_position(cursor: str | None) -> tuple[int, int] | None:
    """The (time_us, id) a cursor holds (None for none); 422 when it is not ours."""
    if not cursor:
        return None
    try:
        time_value, row_id = _POSITION.unpack(base64.urlsafe_b64decode(cursor + "=="))
    except (binascii.Error, struct.error, ValueError):
        raise ValidationProblem.field(
            "query", "cursor", "not a cursor this service handed out"
        ) from None
    return time_value, row_id


def _text(value: str | None) -> str | None:
    """A text filter as stored text is cleaned (NUL replaced), so the two can match."""
    return clean_text(value, 200) if value else None


def _page_key(row: Mapping[Any, Any]) -> tuple[int, int]:
    return row["time_us"], row["id"]


def _cut(rows: Sequence[Mapping[Any, Any]], limit: int) -> tuple[list[Any], str | None]:
    page, more = cut_page(rows, limit, _page_key)
    return page, encode_position(*_page_key(page[-1])) if more else None


class Queries:
    """Newest-first pages (cursor = the (time, id) of the last row) and stats."""

    def __init__(
        self,
        repo: LogRepository,
        streams: StreamRepository,
        *,
        max_page_size: int,
        stream_keys: Mapping[str, str],
        dropped_key: str,
        group: str,
    ) -> None:
        self.repo = repo
        self.streams = streams
        self.max_page_size = max_page_size
        self.stream_keys = dict(stream_keys)
        self.dropped_key = dropped_key
        self.group = group

    async def logs(
        self,
        *,
        service: str | None = None,
        level: str | None = None,
        trace_id: str | None = None,
        q: str | None = None,
        since_us: int | None = None,
        until_us: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> LogPage:
        """Log records at or above `level`, newest first."""
        limit = min(limit, self.max_page_size)
        query = LogQuery(
            service=_text(service),
            min_level_no=level_filter(level),
            trace_id=trace_id.lower() if trace_id else None,
            q=_text(q),
            since_us=since_us,
            until_us=until_us,
            limit=limit,
            after=decode_position(cursor),
        )
        rows, next_cursor = _cut(await self.repo.logs(query), limit)
        return LogPage(items=[log_out(r) for r in rows], next_cursor=next_cursor)

    async def events(
        self,
        *,
        type: str | None = None,
        source: str | None = None,
        trace_id: str | None = None,
        since_us: int | None = None,
        until_us: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> EventPage:
        """Domain events, newest first."""
        limit = min(limit, self.max_page_size)
        query = EventQuery(
            type=_text(type),
            source=_text(source),
            trace_id=trace_id.lower() if trace_id else None,
            since_us=since_us,
            until_us=until_us,
            limit=limit,
            after=decode_position(cursor),
        )
        rows, next_cursor = _cut(await self.repo.events(query), limit)
        return EventPage(items=[event_out(r) for r in rows], next_cursor=next_cursor)

    async def ingest_errors(
        self, *, limit: int = 100, cursor: str | None = None
    ) -> IngestErrorPage:
        """Entries stored as parse errors, newest first."""
        limit = min(limit, self.max_page_size)
        rows = await self.repo.ingest_errors(limit, decode_position(cursor))
        page, next_cursor = _cut(rows, limit)
        return IngestErrorPage(items=[ingest_error_out(r) for r in page], next_cursor=next_cursor)

    async def stats(self, *, since_us: int, until_us: int) -> Stats:
        """Counts by service and level in [since, until), totals, ingest lag, dropped records."""
        by_service: dict[str, dict[str, int]] = {}
        in_window = 0
        for service, level, count in await self.repo.log_counts(since_us, until_us):
            by_service.setdefault(service, {})[level] = count
            in_window += count
        totals = await self.repo.totals()
        try:
            streams = [
                await self.streams.lag(key, name, self.group)
                for name, key in self.stream_keys.items()
            ]
            dropped = await self.streams.dropped_records(self.dropped_key)
        except RedisError as exc:
            raise Unavailable(f"Redis is unavailable: {type(exc).__name__}") from None
        return Stats(
            since=from_us(since_us),
            until=from_us(until_us),
            logs_by_service=by_service,
            logs_in_window=in_window,
            totals=totals,
            streams=streams,
            dropped_records=sum(dropped.values()),
            dropped_by_instance=dropped,
        )

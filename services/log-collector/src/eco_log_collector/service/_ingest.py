"""Ingestion: batches from `eco.logs` and `eco.events`, and OTLP span exports."""

from __future__ import annotations

import json
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError

from eco_log_collector import otlp
from eco_log_collector.records import InvalidRecord, error_row, event_row, log_row, now_us
from eco_log_collector.repository import TABLES, Kind, LogRepository
from eco_shared.bus import Event
from eco_shared.problems import BadRequest, TooLarge

log = structlog.get_logger(__name__)


class Ingestor:
    """Batch handlers of the bus consumers (one transaction per batch) and OTLP ingestion."""

    def __init__(self, repo: LogRepository, *, max_otlp_decompressed_bytes: int) -> None:
        self.repo = repo
        self.max_otlp_decompressed_bytes = max_otlp_decompressed_bytes

    async def handle_logs(self, events: list[Event]) -> None:
        """Store a batch of log records; invalid ones become ingest errors."""
        received = now_us()
        rows: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for event in events:
            try:
                rows.append(log_row(event, received))
            except InvalidRecord as exc:
                errors.append(error_row(event, str(exc), received))
        await self._store("logs", rows, errors)

    async def handle_events(self, events: list[Event]) -> None:
        """Store a batch of domain events."""
        received = now_us()
        await self._store("events", [event_row(e, received) for e in events], [])

    async def export_traces(
        self, body: bytes, content_type: str, content_encoding: str | None
    ) -> bytes:
        """Store the spans of an OTLP export request; the response in the request's encoding.

        `content_type` is `otlp.PROTOBUF` or `otlp.JSON`; a body that does not decode is a
        400, one that inflates past the limit a 413.
        """
        try:
            raw = otlp.decompress(body, content_encoding, self.max_otlp_decompressed_bytes)
            decoded = otlp.decode_request(raw, content_type)
        except otlp.BodyTooLarge as exc:
            raise TooLarge(str(exc), limit_bytes=self.max_otlp_decompressed_bytes) from None
        except otlp.OtlpDecodeError as exc:
            raise BadRequest(str(exc), title="Malformed OTLP request") from None
        rows, rejected, reason = otlp.span_rows(decoded, now_us())
        await self.repo.insert({"spans": rows})
        return otlp.encode_response(content_type, rejected, reason)

    async def _store(
        self, kind: Kind, rows: list[dict[str, Any]], errors: list[dict[str, Any]]
    ) -> None:
        try:
            await self.repo.insert({kind: rows, "ingest_errors": errors})
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise  # the database is away: leave the batch pending, retry later
            # one bad row must not sink its batch forever: store the rest one by one
            await self._store_one_by_one(kind, rows, errors, exc)

    async def _store_one_by_one(
        self,
        kind: Kind,
        rows: list[dict[str, Any]],
        errors: list[dict[str, Any]],
        first: DBAPIError,
    ) -> None:
        log.warning("ingest_batch_failed", table=TABLES[kind].name, error=str(first.orig)[:500])
        for row in rows:
            try:
                await self.repo.insert({kind: [row]})
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise
                errors.append(
                    {
                        "event_id": row["event_id"],
                        "stream": TABLES[kind].name,
                        "entry_id": row.get("entry_id"),
                        "source": row.get("service") or row.get("source"),
                        "reason": f"not storable: {str(exc.orig)[:500]}",
                        "raw": json.dumps({"row": {k: str(v)[:200] for k, v in row.items()}}),
                        "time_us": row["received_us"],
                    }
                )
        await self.repo.insert({"ingest_errors": errors})

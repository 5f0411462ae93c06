"""The audit trail: `eco.audit` appended to a hash chain, read in pages, and verified.

Each event becomes one link: `seq` (1, 2, ...), the event's columns, `prev_hash` (the
previous link's hash; 64 zeros before the first) and `hash` = SHA-256 over `prev_hash` and
the canonical JSON (sorted keys, no spaces, ASCII) of `seq`, `event_id`, `time_us`, `type`,
`source`, `subject`, `actor` and `data`. A redelivered event is stored once (by event id).
Secrets are redacted before anything is hashed or stored, as in every log record.

The last link appended is also kept in Redis (`eco.audit.head`), away from the database it
vouches for: a removed tail shows as a trail ending before its head, and the next event is
numbered after the head, so the gap stays visible.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import structlog

from eco_log_collector.models import AuditEventOut, AuditPage, AuditVerification
from eco_log_collector.records import clean_text, from_us, to_us
from eco_log_collector.repository import AuditQuery, AuditRepository, ChainTip, StreamRepository
from eco_log_collector.service._queries import decode_position, encode_position
from eco_shared.bus import Event
from eco_shared.logging import redact

log = structlog.get_logger(__name__)

AUDIT_STREAM = "eco.audit"
AUDIT_HEAD_KEY = "eco.audit.head"
GENESIS = "0" * 64
HASHED = ("seq", "event_id", "time_us", "type", "source", "subject", "actor", "data")
_VERIFY_BATCH = 1000


def canonical(value: Any) -> str:
    """The canonical JSON of `value`: sorted keys, no spaces, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def link_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) over `prev_hash` and the canonical JSON of the record's hashed columns."""
    body = canonical({name: record[name] for name in HASHED})
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _first_text(data: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value:
            return clean_text(value, 300)
    return None


def _actor(data: Mapping[str, Any]) -> str | None:
    """The service that acted for the subject: `actor`, else the next in `acting_chain`."""
    actor = _first_text(data, "actor")
    chain = data.get("acting_chain")
    if actor is None and isinstance(chain, list) and len(chain) > 1:
        actor = _first_text({"actor": chain[1]}, "actor")
    return actor


def audit_fields(event: Event) -> dict[str, Any]:
    """An event's columns before it is linked (no `seq`, `prev_hash`, `hash` yet)."""
    data = redact(event.data)
    if data != event.data:
        # a publisher put a secret in an audit event: stored redacted, and said so
        log.warning("audit_event_redacted", event_id=event.id, type=event.type, source=event.source)
    return {
        "event_id": clean_text(event.id, 200),
        "time_us": to_us(event.timestamp),
        "type": clean_text(event.type, 200),
        "source": clean_text(event.source, 200),
        # who acted: the publishers' `by` (or `subject`/`sub`), else whose resource it is
        "subject": _first_text(data, "subject", "by", "sub", "owner"),
        "actor": _actor(data),
        "data": data,
    }


def link(start: ChainTip | None, fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of `fields` chained after `start` (the genesis when None)."""
    seq, prev = (start.seq, start.hash) if start is not None else (0, GENESIS)
    rows = []
    for item in fields:
        seq += 1
        record = {**item, "seq": seq}
        digest = link_hash(prev, record)
        rows.append(
            {**record, "data": canonical(record["data"]), "prev_hash": prev, "hash": digest}
        )
        prev = digest
    return rows


def _problem(row: Mapping[Any, Any], expected_seq: int, prev: str) -> tuple[int, str] | None:
    """(first bad seq, reason) when `row` is not the link expected here."""
    seq = row["seq"]
    if seq != expected_seq:
        return expected_seq, f"seq {expected_seq} is missing: a record was removed"
    if row["prev_hash"] != prev:
        return seq, (
            f"seq {seq} does not follow seq {seq - 1}: a record was removed, replaced or moved"
        )
    try:
        data = json.loads(row["data"])
    except ValueError:
        data = None
    if not isinstance(data, dict) or canonical(data) != row["data"]:
        return seq, f"seq {seq} was changed after it was appended (its data)"
    if link_hash(prev, {**row, "data": data}) != row["hash"]:
        return seq, f"seq {seq} was changed after it was appended"
    return None


def audit_out(row: Mapping[Any, Any]) -> AuditEventOut:
    """A stored link as its public model."""
    try:
        data = json.loads(row["data"])
    except ValueError:
        data = {}
    return AuditEventOut(
        seq=row["seq"],
        event_id=row["event_id"],
        time=from_us(row["time_us"]),
        type=row["type"],
        source=row["source"],
        subject=row["subject"],
        actor=row["actor"],
        data=data if isinstance(data, dict) else {"value": data},
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


class AuditTrail:
    """Appends `eco.audit` batches to the chain; pages and verifies it."""

    def __init__(
        self,
        repo: AuditRepository,
        streams: StreamRepository,
        *,
        head_key: str,
        max_page_size: int,
    ) -> None:
        self.repo = repo
        self.streams = streams
        self.head_key = head_key
        self.max_page_size = max_page_size

    async def handle(self, events: list[Event]) -> None:
        """Append a batch (in order; events already stored are skipped)."""
        fresh: dict[str, dict[str, Any]] = {}
        for event in events:
            fields = audit_fields(event)
            fresh.setdefault(fields["event_id"], fields)
        head = await self.streams.audit_head(self.head_key)

        def build(tip: ChainTip | None, existing: set[str]) -> list[dict[str, Any]]:
            # after a removed tail, carry on from the head: the gap stays for verify to see
            start = head if head is not None and (tip is None or head.seq > tip.seq) else tip
            return link(start, [f for i, f in fresh.items() if i not in existing])

        tip = await self.repo.append(list(fresh), build)
        if tip is not None:
            await self.streams.advance_audit_head(self.head_key, tip)

    async def page(
        self,
        *,
        type: str | None = None,
        subject: str | None = None,
        since_us: int | None = None,
        until_us: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> AuditPage:
        """Links matching the filters, newest first; `subject` matches subject or actor."""
        limit = min(limit, self.max_page_size)
        position = decode_position(cursor)
        query = AuditQuery(
            type=clean_text(type, 200) if type else None,
            subject=clean_text(subject, 300) if subject else None,
            since_us=since_us,
            until_us=until_us,
            limit=limit,
            before_seq=position[1] if position is not None else None,
        )
        rows = await self.repo.page(query)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_position(page[-1]["time_us"], page[-1]["seq"]) if more else None
        return AuditPage(items=[audit_out(r) for r in page], next_cursor=next_cursor)

    async def verify(self) -> AuditVerification:
        """Walk the whole chain: every link whole, in order, none missing, up to the head."""
        head = await self.streams.audit_head(self.head_key)
        expected, prev, checked = 1, GENESIS, 0
        while rows := await self.repo.chain(expected - 1, _VERIFY_BATCH):
            for row in rows:
                problem = _problem(row, expected, prev)
                if problem is None and head is not None and row["seq"] == head.seq:
                    if row["hash"] != head.hash:
                        problem = (row["seq"], f"seq {row['seq']} is not the record appended")
                if problem is not None:
                    bad_seq, reason = problem
                    return AuditVerification(
                        ok=False, checked=checked, first_bad_seq=bad_seq, reason=reason
                    )
                checked += 1
                expected, prev = row["seq"] + 1, row["hash"]
        if head is not None and head.seq >= expected:
            return AuditVerification(
                ok=False,
                checked=checked,
                first_bad_seq=expected,
                reason=(
                    f"the trail ends at seq {expected - 1} but seq {head.seq} was appended:"
                    " the records after it were removed"
                ),
            )
        return AuditVerification(ok=True, checked=checked)

"""The audit trail: `eco.audit` on a real Redis, appended to a hash chain in SQL, verified.

The chain is recomputed here from the documented formula (not the service's own function),
tampered with directly in SQL (a changed, a removed, a reordered record, a cut tail), and
`GET /audit/verify` must name the first bad record each time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from eco_log_collector import migrations
from eco_log_collector.main import build_app
from eco_log_collector.records import to_us
from eco_log_collector.repository import AuditRepository, ChainTip, LogRepository
from eco_log_collector.service import Retention
from eco_log_collector.service._audit import link
from eco_log_collector.settings import LogCollectorSettings
from eco_shared.adapters.log_collector import AuditEventOut, LogCollectorAdapter
from eco_shared.auth import new_key
from eco_shared.bus import Event, EventBus
from eco_shared.db import create_engine
from eco_shared.http import ServiceClient
from eco_shared.testing.auth import MintedTokens
from eco_shared.testing.servers import ThreadedServer

AUDIT = "eco.audit"
GENESIS = "0" * 64


def _expected_hash(prev_hash: str, record: AuditEventOut) -> str:
    """SHA-256 over prev_hash and the canonical JSON of the record (README, "Audit trail")."""
    body = {
        "seq": record.seq,
        "event_id": record.event_id,
        "time_us": to_us(record.time),
        "type": record.type,
        "source": record.source,
        "subject": record.subject,
        "actor": record.actor,
        "data": record.data,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


class Trail:
    """One collector of this test's own, the bus it reads and the adapter to ask it."""

    def __init__(self, adapter: LogCollectorAdapter, bus: EventBus, database_url: str) -> None:
        self.adapter = adapter
        self.bus = bus
        self.database_url = database_url

    async def publish(self, type_: str, data: dict[str, Any], source: str = "discovery") -> Event:
        bus = EventBus(self.bus.redis, source, prefix=self.bus.prefix)
        return await bus.publish(type_, data, stream=AUDIT)

    async def stored(self, count: int, timeout_s: float = 20.0) -> list[AuditEventOut]:
        """The whole trail in chain order, once it holds `count` records."""
        items: list[AuditEventOut] = []
        for _ in range(int(timeout_s / 0.1)):
            items = await self.all()
            if len(items) >= count:
                break
            await asyncio.sleep(0.1)
        assert len(items) == count, f"expected {count} audit records, got {len(items)}"
        return items

    async def all(self, **filters: Any) -> list[AuditEventOut]:
        items: list[AuditEventOut] = []
        cursor = None
        while True:
            page = await self.adapter.audit(limit=2, cursor=cursor, **filters)
            items += page.items
            cursor = page.next_cursor
            if cursor is None:
                return sorted(items, key=lambda r: r.seq)

    async def sql(self, *statements: str) -> None:
        engine = create_engine(self.database_url)
        try:
            async with engine.begin() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    async def unlock(self) -> None:
        """What an attacker with DDL rights does first: switch the append-only triggers off."""
        if self.database_url.startswith("postgresql"):
            await self.sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
        else:
            await self.sql(
                "DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"
            )


@pytest.fixture
async def trail(
    redis_url: str, redis_prefix: str, database_url: str, tmp_path: Path
) -> AsyncIterator[Trail]:
    settings = LogCollectorSettings(
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        data_dir=tmp_path,
        database_url=database_url,
        register_with_discovery=False,
        otlp_endpoint="none",
        block_ms=100,
    )
    server = await asyncio.to_thread(
        ThreadedServer(build_app(settings, configure_process=False)).start, 60
    )
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with ServiceClient(service_name="test", tokens=MintedTokens()) as http:
            adapter = LogCollectorAdapter(http, base_url=server.url)
            yield Trail(adapter, EventBus(client, "test", prefix=redis_prefix), database_url)
    finally:
        await client.aclose()
        await asyncio.to_thread(server.stop)


async def _three(trail: Trail) -> list[AuditEventOut]:
    await trail.publish("key.created", {"key_id": "k1", "owner": "user:ann", "by": "user:ann"})
    await trail.publish(
        "document.deleted",
        {
            "document_id": "d1",
            "owner": "user:ann",
            "by": "user:ann",
            "acting_chain": ["user:ann", "spiffe://eco.local/service/orchestrator"],
        },
        source="doc-store",
    )
    await trail.publish("key.revoked", {"key_id": "k1", "owner": "user:ann", "by": "user:root"})
    return await trail.stored(3)


async def test_events_are_chained_in_order_once_each_and_verify(trail: Trail) -> None:
    records = await _three(trail)
    assert [r.seq for r in records] == [1, 2, 3]
    assert [r.type for r in records] == ["key.created", "document.deleted", "key.revoked"]
    prev = GENESIS
    for record in records:
        assert record.prev_hash == prev
        assert record.hash == _expected_hash(prev, record)
        prev = record.hash
    deleted = records[1]
    assert (deleted.source, deleted.subject) == ("doc-store", "user:ann")
    assert deleted.actor == "spiffe://eco.local/service/orchestrator"
    assert records[2].subject == "user:root"

    # a redelivered event (same id, as an outbox relay or a reclaim sends it) is stored once
    again = Event(
        type="key.revoked", source="discovery", data={"key_id": "k1"}, id=records[2].event_id
    )
    await trail.bus.redis.xadd(trail.bus.key(AUDIT), again.to_fields())  # type: ignore[arg-type]
    await trail.publish("key.created", {"key_id": "k2", "owner": "user:bob", "by": "user:bob"})
    records = await trail.stored(4)
    assert [r.seq for r in records] == [1, 2, 3, 4]
    assert records[3].prev_hash == records[2].hash

    verified = await trail.adapter.verify_audit()
    assert (verified.ok, verified.checked, verified.first_bad_seq) == (True, 4, None)


async def test_filters_and_pages(trail: Trail) -> None:
    records = await _three(trail)
    assert [r.seq for r in await trail.all(type="key.revoked")] == [3]
    # subject matches who acted and the service acting for them
    assert [r.seq for r in await trail.all(subject="user:ann")] == [1, 2]
    orchestrator = "spiffe://eco.local/service/orchestrator"
    assert [r.seq for r in await trail.all(subject=orchestrator)] == [2]
    newest = await trail.adapter.audit()
    assert [r.seq for r in newest.items] == [3, 2, 1]
    just_after_first = records[0].time + timedelta(microseconds=1)
    assert [r.seq for r in await trail.all(until=just_after_first)] == [1]
    assert [r.seq for r in await trail.all(since=just_after_first)] == [2, 3]
    future = datetime.now(UTC) + timedelta(days=1)
    assert await trail.all(since=future) == []


async def test_a_secret_in_an_audit_event_is_never_stored(trail: Trail) -> None:
    key = new_key()
    secret = key.value[len("eco_") + 12 + 1 :]
    await trail.publish(
        "key.created",
        {
            "key_id": key.key_id,
            "owner": "user:ann",
            "note": f"created {key.value}",
            "client_secret": "hunter2-not-for-logs",
        },
    )
    [record] = await trail.stored(1)
    text_stored = json.dumps(record.model_dump(mode="json"))
    assert key.value not in text_stored
    assert secret not in text_stored
    assert "hunter2" not in text_stored
    assert record.data["key_id"] == key.key_id
    assert record.data["note"] == f"created eco_{key.key_id}_…"
    # what is hashed is what is stored: the chain still verifies
    assert (await trail.adapter.verify_audit()).ok


async def test_the_database_refuses_to_change_or_remove_a_record(trail: Trail) -> None:
    await _three(trail)
    for statement in (
        "UPDATE audit_events SET type = 'nothing.happened' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            await trail.sql(statement)
    assert [r.type for r in await trail.stored(3)][1] == "document.deleted"
    assert (await trail.adapter.verify_audit()).ok


TAMPERING: dict[str, tuple[list[str], int, str]] = {
    "changed": (
        ["UPDATE audit_events SET data = replace(data, 'user:ann', 'user:eve') WHERE seq = 2"],
        2,
        "seq 2 was changed",
    ),
    "removed": (["DELETE FROM audit_events WHERE seq = 2"], 2, "seq 2 is missing"),
    "reordered": (
        [
            "UPDATE audit_events SET seq = 100 WHERE seq = 2",
            "UPDATE audit_events SET seq = 2 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = 100",
        ],
        2,
        "seq 2 does not follow seq 1",
    ),
    "tail cut": (["DELETE FROM audit_events WHERE seq = 3"], 3, "records after it were removed"),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
async def test_verify_names_the_first_record_tampered_with(trail: Trail, how: str) -> None:
    statements, bad_seq, reason = TAMPERING[how]
    await _three(trail)
    await trail.unlock()
    await trail.sql(*statements)
    verified = await trail.adapter.verify_audit()
    assert verified.ok is False
    assert verified.first_bad_seq == bad_seq
    assert verified.reason is not None
    assert reason in verified.reason
    assert verified.checked == bad_seq - 1


async def test_a_record_rewritten_with_a_valid_hash_breaks_the_next_link(trail: Trail) -> None:
    records = await _three(trail)
    forged = records[1].model_copy(update={"type": "nothing.happened"})
    digest = _expected_hash(forged.prev_hash, forged)
    await trail.unlock()
    await trail.sql(
        f"UPDATE audit_events SET type = 'nothing.happened', hash = '{digest}' WHERE seq = 2"
    )
    verified = await trail.adapter.verify_audit()
    assert (verified.ok, verified.first_bad_seq, verified.checked) == (False, 3, 2)
    assert verified.reason is not None
    assert "seq 3 does not follow seq 2" in verified.reason


async def test_a_cut_tail_stays_visible_after_new_events(trail: Trail) -> None:
    await _three(trail)
    await trail.unlock()
    await trail.sql("DELETE FROM audit_events WHERE seq = 3")
    await trail.publish("key.created", {"key_id": "k9", "owner": "user:cy", "by": "user:cy"})
    records = await trail.stored(3)
    # numbered after the head Redis remembers, not after what is left in SQL
    assert [r.seq for r in records] == [1, 2, 4]
    verified = await trail.adapter.verify_audit()
    assert (verified.ok, verified.first_bad_seq) == (False, 3)
    assert verified.reason == "seq 3 is missing: a record was removed"


async def test_retention_never_touches_the_audit_trail(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrations.upgrade(engine)
        old = to_us(datetime.now(UTC) - timedelta(days=400))
        fields = {
            "event_id": "ancient",
            "time_us": old,
            "type": "key.created",
            "source": "discovery",
            "subject": "user:ann",
            "actor": None,
            "data": {"key_id": "k0"},
        }

        def build(tip: ChainTip | None, _stored: set[str]) -> list[dict[str, Any]]:
            return link(tip, [fields])

        await AuditRepository(engine).append(["ancient"], build)
        deleted = await Retention(LogRepository(engine), retention_days=1, batch_size=10).purge()
        assert "audit" not in deleted
        async with engine.connect() as conn:
            left = (await conn.execute(text("SELECT event_id FROM audit_events"))).scalars()
            assert list(left) == ["ancient"]
    finally:
        await engine.dispose()

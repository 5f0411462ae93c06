"""Retention: only what is older than the window goes, in bounded batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from eco_log_collector import migrations
from eco_log_collector import repository as repo
from eco_log_collector.records import to_us
from eco_log_collector.service import Retention
from eco_shared.db import create_engine
from eco_shared.testing import wait_until
from eco_shared.testing.auth import TestAuth

AUTH = TestAuth("log-collector")

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _log(event_id: str, moment: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "time_us": to_us(moment),
        "service": "svc",
        "level": "info",
        "level_no": 20,
        "message": event_id,
        "attributes": "{}",
        "received_us": to_us(moment),
    }


def _span(span_id: str, moment: datetime) -> dict[str, Any]:
    start = to_us(moment) * 1000
    return {
        "trace_id": "ab" * 16,
        "span_id": span_id,
        "service": "svc",
        "name": span_id,
        "kind": "internal",
        "start_ns": start,
        "end_ns": start + 1000,
        "duration_ms": 0.001,
        "status_code": "unset",
        "attributes": "{}",
        "events": "[]",
        "received_us": to_us(moment),
    }


async def test_purge_deletes_only_what_is_older_than_the_window(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrations.upgrade(engine)
        cutoff = NOW - timedelta(days=7)
        old = [_log(f"old-{i}", cutoff - timedelta(seconds=1 + i)) for i in range(7)]
        kept = [
            _log("at-cutoff", cutoff),
            _log("new", NOW - timedelta(days=1)),
            _log("future", NOW + timedelta(days=1)),
        ]
        await repo.LogRepository(engine).insert(
            {
                "logs": old + kept,
                "spans": [
                    _span("0000000000000001", cutoff - timedelta(hours=1)),
                    _span("0000000000000002", cutoff + timedelta(hours=1)),
                ],
            }
        )
        retention = Retention(repo.LogRepository(engine), retention_days=7, batch_size=3)
        deleted = await retention.purge(now=NOW)
        assert deleted == {"logs": 7, "events": 0, "spans": 1, "ingest_errors": 0}
        async with engine.connect() as conn:
            left = sorted((await conn.execute(select(repo.LOGS.c.event_id))).scalars())
            spans = list((await conn.execute(select(repo.SPANS.c.span_id))).scalars())
        assert left == ["at-cutoff", "future", "new"]
        assert spans == ["0000000000000002"]
        again = await retention.purge(now=NOW)
        assert sum(again.values()) == 0
    finally:
        await engine.dispose()


def test_the_periodic_job_runs_in_the_service(
    start_collector: Any, redis_url: str, redis_prefix: str, lc: Any
) -> None:
    collector = start_collector(
        ECO_LOG_COLLECTOR_RETENTION_DAYS="1", ECO_LOG_COLLECTOR_RETENTION_INTERVAL_S="0.3"
    )
    old = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lc.publish_logs(
        redis_url,
        redis_prefix,
        [
            lc.log_fields("ancient", service="retained", time=old),
            lc.log_fields("recent", service="retained"),
        ],
    )

    # the job says what it deleted in its own log (shipped to eco.logs like any other)
    def purged() -> list[Any]:
        items = httpx.get(
            f"{collector.url}/logs",
            params={"q": "retention_purged", "service": "log-collector"},
            auth=AUTH,
        ).json()["items"]
        return [i for i in items if i["attributes"].get("logs") == 1]

    wait_until(purged, timeout_s=20, interval_s=0.2)
    items = httpx.get(f"{collector.url}/logs", params={"service": "retained"}, auth=AUTH).json()[
        "items"
    ]
    assert [i["message"] for i in items] == ["recent"]

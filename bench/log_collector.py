"""Log collector ingest: records/s from publish to committed, and publish-to-queryable latency.

    uv run python bench/log_collector.py [--records 50000] [--latency-seconds 10]

Redis: `ECO_BENCH_REDIS_URL` (or `--redis-url`), else an embedded redis-server. The collector
runs as a real process (`ServiceProcess`) on a SQLite file in a temporary directory. Its
queries are made as a reader holding `logs:read` (a valid token per phase, minted again every
4 minutes of a long latency phase: its signature is checked once, then answered from the
verifier's cache).

(a) raw: redis-py pipelined XADD of `log.record` envelopes, batches of 100 (the baseline).
(b) ingest: the same envelopes published in batches of 500 while the collector consumes
    them; timed from the first publish until `GET /stats` counts all N committed.
    Targets: at least 10,000 records/s on SQLite, and at least 0.7 x raw (same run).
(c) latency: a steady 1,000 records/s for a few seconds; each record's time from XADD until
    `GET /logs` returns it (polled every 20 ms, so the figures include up to ~20 ms of poll).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from _harness import cleanup, percentile, quiet_logs, redis_url

from eco_shared.auth import user_subject
from eco_shared.bus import LOGS, Event
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import AUTH_DIR_ENV, bearer, session_material

TARGET_RATE = 10_000
TARGET_RATIO = 0.7
RAW_BATCH = 100
PUBLISH_BATCH = 500
READER = user_subject("bench")
RENEW_S = 240.0  # tokens live 300 s


def read_token(http: httpx.AsyncClient) -> float:
    """Give the client a fresh `logs:read` token; when it was minted."""
    http.headers.update(bearer("log-collector", ("logs:read",), subject=READER))
    return time.perf_counter()


def envelope(service: str, seq: int, **extra: Any) -> dict[str, str]:
    data = {
        "event": "document_stored",
        "level": "info",
        "service": service,
        "logger": "eco_doc_store.service",
        "document_id": f"doc-{seq}",
        "seq": seq,
        **extra,
    }
    return Event(type="log.record", source=service, data=data).to_fields()


async def bench_raw(url: str, key: str, records: int) -> float:
    """Records/s of pipelined XADD of log envelopes, batches of 100."""
    client = aioredis.Redis.from_url(url)
    entries = [envelope("raw", i) for i in range(records)]
    try:
        start = time.perf_counter()
        for offset in range(0, records, RAW_BATCH):
            pipe = client.pipeline(transaction=False)
            for fields in entries[offset : offset + RAW_BATCH]:
                pipe.xadd(key, fields, maxlen=1_000_000, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()
        return records / (time.perf_counter() - start)
    finally:
        await client.aclose()


async def stored(http: httpx.AsyncClient, service: str) -> int:
    response = await http.get("/stats", params={"since": "1d"})
    response.raise_for_status()
    return sum(response.json()["logs_by_service"].get(service, {}).values())


async def bench_ingest(url: str, prefix: str, http: httpx.AsyncClient, records: int) -> float:
    """Records/s from the first publish until all are committed in the collector's database."""
    client = aioredis.Redis.from_url(url)
    entries = [envelope("bench-ingest", i) for i in range(records)]
    key = f"{prefix}{LOGS}"
    try:
        start = time.perf_counter()
        for offset in range(0, records, PUBLISH_BATCH):
            pipe = client.pipeline(transaction=False)
            for fields in entries[offset : offset + PUBLISH_BATCH]:
                pipe.xadd(key, fields, maxlen=1_000_000, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()
        deadline = start + 120
        read_token(http)  # the polls below last less than a token's lifetime
        while await stored(http, "bench-ingest") < records:
            if time.perf_counter() > deadline:
                raise RuntimeError("the collector did not store every record in time")
            await asyncio.sleep(0.05)
        return records / (time.perf_counter() - start)
    finally:
        await client.aclose()


async def bench_latency(
    url: str, prefix: str, http: httpx.AsyncClient, seconds: float, rate: int = 1000
) -> list[float]:
    """Publish-to-queryable latencies (ms) at a steady `rate` records/s."""
    client = aioredis.Redis.from_url(url)
    key = f"{prefix}{LOGS}"
    published: dict[str, float] = {}
    seen: dict[str, float] = {}
    publishing = True

    async def publish() -> None:
        nonlocal publishing
        tick, per_tick = 0.01, max(1, rate // 100)
        begin = time.perf_counter()
        seq = 0
        try:
            while time.perf_counter() - begin < seconds:
                pipe = client.pipeline(transaction=False)
                batch = [envelope("bench-latency", seq + i) for i in range(per_tick)]
                seq += per_tick
                for fields in batch:
                    pipe.xadd(key, fields, maxlen=1_000_000, approximate=True)  # type: ignore[arg-type]
                await pipe.execute()
                now = time.perf_counter()
                for fields in batch:
                    published[fields["id"]] = now
                next_at = begin + (seq // per_tick) * tick
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        finally:
            publishing = False

    async def poll() -> None:
        since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
        minted = read_token(http)
        while publishing or len(seen) < len(published):
            if time.perf_counter() - minted > RENEW_S:
                minted = read_token(http)
            cursor = None
            while True:
                params: dict[str, Any] = {"service": "bench-latency", "since": since, "limit": 1000}
                if cursor:
                    params["cursor"] = cursor
                response = await http.get("/logs", params=params)
                response.raise_for_status()
                page = response.json()
                now = time.perf_counter()
                fresh = False
                for item in page["items"]:
                    if item["event_id"] not in seen:
                        seen[item["event_id"]] = now
                        fresh = True
                cursor = page["next_cursor"]
                # older pages hold only what was seen already
                if cursor is None or not fresh:
                    break
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(asyncio.gather(publish(), poll()), seconds + 60)
    finally:
        await client.aclose()
    return [(seen[i] - t) * 1000 for i, t in published.items() if i in seen]


async def run(url: str, prefix: str, records: int, latency_s: float, workdir: Path) -> bool:
    collector = ServiceProcess(
        "eco_log_collector.main:create_app",
        env={
            "ECO_REDIS_URL": url,
            "ECO_REDIS_PREFIX": prefix,
            "ECO_DATA_DIR": str(workdir),
            "ECO_LOG_FORMAT": "json",
            "ECO_LOG_LEVEL": "WARNING",
            "ECO_OTLP_ENDPOINT": "none",
            "ECO_LOG_COLLECTOR_REGISTER_WITH_DISCOVERY": "false",
            "ECO_LOG_COLLECTOR_BLOCK_MS": "50",
        },
        port_env="ECO_LOG_COLLECTOR_PORT",
        ready_path="/health/ready",
        log_dir=workdir,
    )
    try:
        raw = await bench_raw(url, f"{prefix}raw", records)
        await asyncio.to_thread(collector.start, 60.0)
        async with httpx.AsyncClient(base_url=collector.url, timeout=30) as http:
            ingest = await bench_ingest(url, prefix, http, records)
            latencies = await bench_latency(url, prefix, http, latency_s)
    finally:
        await asyncio.to_thread(collector.terminate)
    rate_ok = ingest >= TARGET_RATE
    ratio_ok = ingest / raw >= TARGET_RATIO
    passed = rate_ok and ratio_ok
    print(f"records:                        {records}")
    print(f"raw pipelined XADD:             {raw:12,.0f} records/s (baseline)")
    print(
        f"collector publish -> committed: {ingest:12,.0f} records/s (SQLite)  "
        f"target >= {TARGET_RATE:,}: {'PASS' if rate_ok else 'FAIL'}"
    )
    print(
        f"ratio ingest/raw:               {ingest / raw:12.2f}              "
        f"target >= {TARGET_RATIO}: {'PASS' if ratio_ok else 'FAIL'}"
    )
    if latencies:
        print(
            f"latency at 1,000 records/s:     p50 {statistics.median(latencies):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms "
            f"({len(latencies)} records over {latency_s:.0f} s)"
        )
    print(f"result:                         {'PASS' if passed else 'FAIL'}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description="Log collector ingest rate and latency.")
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    quiet_logs()
    prefix = f"bench-lc-{uuid.uuid4().hex[:8]}:"
    with redis_url(args.redis_url) as url, tempfile.TemporaryDirectory() as workdir:
        # this run's own key material, inherited by the collector and removed with `workdir`
        os.environ[AUTH_DIR_ENV] = str(Path(workdir) / "auth")
        session_material()
        try:
            passed = asyncio.run(
                run(url, prefix, args.records, args.latency_seconds, Path(workdir))
            )
        finally:
            cleanup(url, prefix)
    raise SystemExit(0 if passed else 1)


if __name__ == "__main__":
    main()

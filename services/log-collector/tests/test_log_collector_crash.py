"""At-least-once ingestion with de-duplication: SIGKILL the collector mid-stream."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth

AUTH = TestAuth("log-collector")

PUBLISHER = Path(__file__).with_name("log_collector_publisher.py")
PUBLISHERS = ("pub-a", "pub-b", "pub-c")
TOTAL = 10_000


def _stored(collector: ServiceProcess) -> int:
    try:
        stats = httpx.get(
            f"{collector.url}/stats", params={"since": "1d"}, timeout=5, auth=AUTH
        ).json()
    except httpx.HTTPError:
        return -1
    return sum(sum(stats["logs_by_service"].get(p, {}).values()) for p in PUBLISHERS)


@pytest.mark.slow
@pytest.mark.timeout(300)  # three publisher processes start for seconds on a busy machine
def test_sigkill_mid_ingest_stores_every_record_exactly_once(
    start_collector: Any, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    # a fixed consumer name: the restarted collector re-reads what the dead one left pending
    settings = {
        "ECO_LOG_COLLECTOR_INSTANCE_ID": "collector-crash",
        "ECO_LOG_COLLECTOR_BATCH_SIZE": "200",
    }
    collector = start_collector(**settings)
    counts = [TOTAL // 3 + (1 if i < TOTAL % 3 else 0) for i in range(3)]
    publishers = []
    for name, n in zip(PUBLISHERS, counts, strict=True):
        with open(tmp_path / f"{name}.err", "wb") as err:
            publishers.append(
                subprocess.Popen(
                    [sys.executable, str(PUBLISHER), redis_url, redis_prefix, name, str(n), "0.1"],
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            )
    try:
        wait_until(lambda: _stored(collector) >= 1000, timeout_s=90, interval_s=0.05)
        at_kill = _stored(collector)
        collector.kill()
        restarted = start_collector(**settings, port=str(collector.port))
        for proc in publishers:
            assert proc.wait(60) == 0, (tmp_path / f"{proc.args[4]}.err").read_text()
        wait_until(lambda: _stored(restarted) >= TOTAL, timeout_s=60, interval_s=0.2)
        time.sleep(1.0)  # nothing more arrives late
        assert _stored(restarted) == TOTAL
    finally:
        for proc in publishers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert at_kill < TOTAL, "the collector was killed after everything was stored"

    seen: dict[str, set[int]] = {p: set() for p in PUBLISHERS}
    for name in PUBLISHERS:
        cursor = None
        while True:
            params: dict[str, Any] = {"service": name, "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = httpx.get(f"{restarted.url}/logs", params=params, timeout=10, auth=AUTH).json()
            seen[name].update(item["attributes"]["seq"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert [len(seen[p]) for p in PUBLISHERS] == counts
    assert all(seen[p] == set(range(n)) for p, n in zip(PUBLISHERS, counts, strict=True))
    pending = httpx.get(f"{restarted.url}/stats", auth=AUTH).json()["streams"]
    assert {s["stream"]: s["pending"] for s in pending}["eco.logs"] == 0

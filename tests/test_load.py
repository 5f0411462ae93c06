"""Load on the whole ecosystem as real processes: 50 concurrent submitters of `POST /queries`
plus readers of documents, logs and runs for 60 s. No 5xx but 503 with Retry-After (which the
clients wait out and retry), every accepted run completes, read latencies are reported."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from eco_shared.testing.ecosystem import TERMINAL, PrivateEcosystem

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

SUBMITTERS = 50
READERS = 6
DURATION_S = 60.0
QUERY = {"query": "How healthy is the ecosystem?", "format": "json", "user_id": "load"}


class Tally:
    """What the clients saw: statuses, shed answers, read latencies, accepted runs."""

    def __init__(self) -> None:
        self.statuses: dict[int, int] = defaultdict(int)
        self.shed_without_retry_after = 0
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.accepted: list[str] = []
        self.errors: list[str] = []


async def _call(
    client: httpx.AsyncClient, tally: Tally, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """One logical call: 503/429 are waited out (Retry-After) and retried, as clients should."""
    while True:
        response = await client.request(method, url, **kwargs)
        tally.statuses[response.status_code] += 1
        if response.status_code not in (429, 503):
            return response
        retry_after = response.headers.get("retry-after")
        if retry_after is None:
            tally.shed_without_retry_after += 1
            retry_after = "1"
        await asyncio.sleep(float(retry_after))


async def _submitter(eco: PrivateEcosystem, tally: Tally, until: float) -> None:
    base = eco.url("orchestrator")
    async with httpx.AsyncClient(timeout=60, auth=eco.auth()) as client:
        while time.monotonic() < until:
            accepted = await _call(client, tally, "POST", f"{base}/queries", json=QUERY)
            if accepted.status_code != 202:
                tally.errors.append(f"POST /queries {accepted.status_code}: {accepted.text[:200]}")
                continue
            run_id = accepted.json()["run_id"]
            tally.accepted.append(run_id)
            while True:
                await asyncio.sleep(0.5)
                run = await _call(client, tally, "GET", f"{base}/runs/{run_id}")
                if run.status_code == 200 and run.json()["status"] in TERMINAL:
                    break


async def _reader(eco: PrivateEcosystem, tally: Tally, until: float, offset: int) -> None:
    reads = [
        ("documents", f"{eco.url('doc-store')}/documents", {"page_size": 20}),
        ("logs", f"{eco.url('log-collector')}/logs", {"limit": 50}),
        ("runs", f"{eco.url('orchestrator')}/runs", {"page_size": 20}),
    ]
    turn = offset
    async with httpx.AsyncClient(timeout=60, auth=eco.auth()) as client:
        while time.monotonic() < until:
            name, url, params = reads[turn % len(reads)]
            turn += 1
            started = time.perf_counter()
            response = await _call(client, tally, "GET", url, params=params)
            tally.latencies[name].append(time.perf_counter() - started)
            if response.status_code != 200:
                tally.errors.append(f"GET {name} {response.status_code}: {response.text[:200]}")


async def _load(eco: PrivateEcosystem) -> Tally:
    tally = Tally()
    until = time.monotonic() + DURATION_S
    await asyncio.gather(
        *(_submitter(eco, tally, until) for _ in range(SUBMITTERS)),
        *(_reader(eco, tally, until, i) for i in range(READERS)),
    )
    return tally


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@pytest.fixture(scope="module")
def eco(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateEcosystem]:
    eco = PrivateEcosystem(tmp_path_factory.mktemp("load"))
    try:
        yield eco.start()
    finally:
        eco.stop()


def test_fifty_submitters_and_readers_for_a_minute(
    eco: PrivateEcosystem, capsys: pytest.CaptureFixture[str]
) -> None:
    tally = asyncio.run(_load(eco))
    lines = [f"\nload: {len(tally.accepted)} runs accepted in {DURATION_S:.0f} s; "]
    lines.append(f"statuses {dict(sorted(tally.statuses.items()))}")
    for name, values in sorted(tally.latencies.items()):
        lines.append(
            f"\n  {name:>9}: {len(values)} reads, p50 {statistics.median(values) * 1000:.0f} ms, "
            f"p99 {_p(values, 0.99):.0f} ms, max {max(values) * 1000:.0f} ms"
        )
    with capsys.disabled():  # the p99 of reads is this test's report: shown even on a pass
        print("".join(lines))  # noqa: T201
    assert not tally.errors, tally.errors[:10]
    server_errors = {s: n for s, n in tally.statuses.items() if s >= 500 and s != 503}
    assert not server_errors, server_errors
    assert tally.shed_without_retry_after == 0
    assert tally.accepted
    with eco.http(timeout=60) as client:
        final = [client.get(f"{eco.url('orchestrator')}/runs/{r}").json() for r in tally.accepted]
    assert all(run["status"] == "completed" for run in final), [
        (run["run_id"], run["status"], run.get("error"))
        for run in final
        if run["status"] != "completed"
    ][:10]

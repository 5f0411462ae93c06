"""Fault tests on the whole ecosystem as real processes over a private Redis: Redis
SIGKILLed under load and restarted, discovery SIGKILLed and restarted, and an orchestrator
stopped (SIGTERM) while a run is mid-step. Nothing is restarted but the process killed."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from eco_shared.adapters.orchestrator import parse_sse
from eco_shared.testing.ecosystem import (
    PrivateEcosystem,
    documents_by_run,
    stored_events,
    wait_runs,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

QUERIES = [
    "How healthy is the ecosystem?",
    "Create API documentation for the doc-store service",
    "Summarise recent incidents",
    "Create API documentation for the log-collector service",
]


@pytest.fixture(scope="module")
def eco(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateEcosystem]:
    eco = PrivateEcosystem(tmp_path_factory.mktemp("faults"))
    try:
        yield eco.start()
    finally:
        eco.stop()


def test_redis_killed_under_twenty_queries(eco: PrivateEcosystem) -> None:
    base = eco.url("orchestrator")
    with eco.http(timeout=30) as client:
        run_ids = [
            client.post(
                base + "/queries",
                json={"query": QUERIES[i % len(QUERIES)], "format": "json", "user_id": "faults"},
            ).json()["run_id"]
            for i in range(20)
        ]
        # SIGKILL while they are in flight, back on the same port (from its AOF) 3 s later
        eco.restart_redis(down_s=3)
        back = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # every service is ready again by itself: no process was restarted
        deadline = time.monotonic() + 60
        while not all(
            client.get(p.url + "/health/ready").status_code == 200 for p in eco.procs.values()
        ):
            assert time.monotonic() < deadline, "not ready again after Redis came back"
            time.sleep(0.2)
        runs = wait_runs(client, base, run_ids, timeout_s=400)
        statuses = [r["status"] for r in runs.values()]
        assert all(s in ("completed", "needs_clarification") for s in statuses), [
            (run_id, r["status"], r.get("error")) for run_id, r in runs.items()
        ]
        completed = {run_id: r for run_id, r in runs.items() if r["status"] == "completed"}
        assert completed
        by_run = documents_by_run(client, eco.url("doc-store"))
        for run_id, run in completed.items():
            documents = by_run.get(run_id, [])
            assert len(documents) == 1, (run_id, documents)
            assert documents[0]["id"] == run["document_id"]
        # every document.stored event reached the log collector (the doc store's outbox)
        wanted = {run["document_id"] for run in completed.values()}
        deadline = time.monotonic() + 60
        while missing := wanted - stored_events(client, eco.url("log-collector")):
            assert time.monotonic() < deadline, f"document.stored missing for {missing}"
            time.sleep(0.5)
        # log shipping resumed by itself: records written after the restart reach the
        # collector (shipped and ingested asynchronously: waited for, not raced; filtered by
        # message, so the volume of other records cannot push them off the page)
        params = {"service": "orchestrator", "q": "run_completed", "since": back, "limit": 1000}
        deadline = time.monotonic() + 60
        while not any(
            r["message"] == "run_completed"
            for r in client.get(eco.url("log-collector") + "/logs", params=params).json()["items"]
        ):
            assert time.monotonic() < deadline, "no run_completed record collected after Redis"
            time.sleep(0.5)


def test_discovery_killed_every_service_registered_again_within_one_lease(
    eco: PrivateEcosystem,
) -> None:
    discovery = eco.procs["discovery"]
    discovery.kill()
    restarted = time.monotonic()
    eco.start_service(
        "discovery", port=discovery.port, ECO_DISCOVERY_REGISTER_WITH_DISCOVERY="false"
    )
    lease_ttl_s = 15.0
    waited = eco.wait_all_passing(timeout_s=lease_ttl_s * 3)
    print(f"\nall passing {time.monotonic() - restarted:.1f} s after discovery was restarted")  # noqa: T201
    assert waited <= lease_ttl_s, waited
    with eco.http(timeout=60) as client:
        run_id = client.post(
            eco.url("orchestrator") + "/queries",
            json={"query": "How healthy is the ecosystem?", "format": "json"},
        ).json()["run_id"]
        [run] = wait_runs(client, eco.url("orchestrator"), [run_id], timeout_s=120).values()
        assert run["status"] == "completed", run


def test_sigterm_lets_the_running_step_finish_and_the_run_resume(eco: PrivateEcosystem) -> None:
    orchestrator = eco.procs["orchestrator"]
    base = orchestrator.url
    with eco.http(timeout=30) as client:
        run_id = client.post(
            base + "/queries",
            json={"query": "Create API documentation for the log-collector service"},
        ).json()["run_id"]
        deadline = time.monotonic() + 60
        while client.get(f"{base}/runs/{run_id}").json()["current_node"] in (None, "understand"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert orchestrator.process is not None
        orchestrator.process.send_signal(signal.SIGTERM)
        code = orchestrator.process.wait(60)
        assert code in (0, -signal.SIGTERM), orchestrator.log_tail()
        assert "forced_exit" not in orchestrator.log_tail(50_000)
        eco.start_service("orchestrator", port=orchestrator.port)
        [done] = wait_runs(client, base, [run_id], timeout_s=180).values()
        assert done["status"] == "completed", done
        assert len(documents_by_run(client, eco.url("doc-store")).get(run_id, [])) == 1
        events = parse_sse(client.get(f"{base}/runs/{run_id}/events").text)
    kinds = [e.event for e in events]
    if "run.interrupted" in kinds:
        # stopped at a node boundary: every node it had started had finished first
        cut = kinds.index("run.interrupted")
        started = [e.data["node"] for e in events[:cut] if e.event == "node.started"]
        finished = [e.data["node"] for e in events[:cut] if e.event == "node.finished"]
        assert sorted(started) == sorted(finished), events[:cut]
        assert done["executions"] == 2
        # and the nodes finished before the stop were not run again
        after = [e.data["node"] for e in events[cut:] if e.event == "node.started"]
        assert not set(after) & set(finished), (finished, after)
    else:
        # the run was in its last step when the signal came: it finished within the drain
        assert done["executions"] == 1

"""Faults under `eco up`'s supervisor, every part real: a detached `eco up` (private Redis,
five services as processes), SIGKILLs of real pids, queries over real HTTP.

- every service SIGKILLed in turn during a stream of queries: restarted and ready again,
  later queries succeed, no accepted run is lost or stores two documents;
- discovery SIGKILLed: every service is registered and passing again within one lease TTL;
- the private Redis SIGKILLed: restarted on the same port from its AOF.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from eco_cli.testing import EcoUp, documents_per_run, query, wait_run
from eco_shared.testing import wait_until

pytestmark = pytest.mark.slow

LEASE_TTL_S = 6.0
QUERY = "Create API documentation for the doc-store service"
SERVICES = ["discovery", "llm-gateway", "log-collector", "doc-store", "orchestrator"]


@pytest.fixture(scope="module")
def eco(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EcoUp]:
    eco = EcoUp(
        tmp_path_factory.mktemp("faults"),
        env={
            "ECO_DISCOVERY_DEFAULT_TTL_S": str(LEASE_TTL_S),
            "ECO_DISCOVERY_CHECK_INTERVAL_S": "1",
            # Each kill here is a fault of its own, not a crash loop: back off from the start.
            "ECO_UP_RESTART_BACKOFF_INITIAL_S": "0.2",
            "ECO_UP_RESTART_STABLE_S": "1",
            "ECO_UP_RESTART_LIMIT": "10",
        },
    )
    try:
        yield eco.start()
    finally:
        eco.down()


class QueryStream:
    """Submits a query every `interval_s` from a thread; keeps the ids of accepted runs."""

    def __init__(self, orchestrator: str, auth: httpx.Auth, interval_s: float = 1.0) -> None:
        self.orchestrator = orchestrator
        self.auth = auth
        self.interval_s = interval_s
        self.accepted: list[str] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10, auth=self.auth) as client:
            while not self._stop.wait(self.interval_s):
                run_id = query(self.orchestrator, QUERY, client)
                if run_id is None:
                    self.refused += 1
                else:
                    self.accepted.append(run_id)

    def __enter__(self) -> QueryStream:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _passing(eco: EcoUp) -> set[str]:
    try:
        listing = httpx.get(
            f"{eco.url('discovery')}/services",
            headers=eco.headers("discovery", ("discovery:read",)),
            timeout=5,
        ).json()["services"]
    except (httpx.HTTPError, ValueError, KeyError):
        return set()
    return {s["name"] for s in listing if s["status"] == "passing"}


def _a_query_completes(eco: EcoUp, killed: str, timeout_s: float = 120) -> str:
    """Queries until one completes; its run id. Runs that fail meanwhile (a caller's circuit
    breaker still open on the restarted service) are not what this waits out forever."""
    orchestrator = eco.url("orchestrator")
    deadline = time.monotonic() + timeout_s
    outcomes: list[str] = []
    with httpx.Client(timeout=10, auth=eco.auth()) as client:
        while time.monotonic() < deadline:
            run_id = query(orchestrator, QUERY, client)
            if run_id is None:
                outcomes.append("refused")
            else:
                run = wait_run(orchestrator, run_id, auth=eco.auth())
                if run["status"] == "completed":
                    return run_id
                outcomes.append(f"{run['status']}: {run.get('error')}")
            time.sleep(1)
    raise AssertionError(f"no query completed after {killed} came back: {outcomes}")


@pytest.mark.timeout(600)  # with the module's `eco up`; five kills, each waited out
def test_every_service_sigkilled_during_queries_comes_back_and_no_run_is_lost(
    eco: EcoUp,
) -> None:
    orchestrator = eco.url("orchestrator")
    probes: list[str] = []
    with QueryStream(orchestrator, eco.auth()) as stream:
        for name in SERVICES:
            # the kill lands while queries are arriving
            seen = len(stream.accepted)
            wait_until(lambda seen=seen: len(stream.accepted) >= seen + 2, timeout_s=60)
            before = eco.kill(name)
            after = eco.wait_restarted(name, before)
            assert after["restarts"] == before["restarts"] + 1
            assert after["last_exit"] == "killed by SIGKILL", after
            assert after["url"] == before["url"]  # same port
            wait_until(eco.all_ready, timeout_s=60, interval_s=0.5)
            probes.append(_a_query_completes(eco, name))
    assert stream.accepted, "no query was accepted"
    runs = {
        run_id: wait_run(orchestrator, run_id, auth=eco.auth())
        for run_id in [*stream.accepted, *probes]
    }
    documents = documents_per_run(eco.url("doc-store"), auth=eco.auth())
    statuses = {run_id: run["status"] for run_id, run in runs.items()}
    # no run is lost: every accepted one ended, and each completed one stored one document
    for run_id, status in statuses.items():
        if status == "completed":
            assert documents.get(run_id) == 1, (run_id, documents.get(run_id))
    assert all(count == 1 for count in documents.values()), documents
    completed = sum(status == "completed" for status in statuses.values())
    assert completed >= len(probes), statuses


@pytest.mark.timeout(300)
def test_discovery_sigkilled_everyone_registered_again_within_one_lease(eco: EcoUp) -> None:
    wait_until(lambda: _passing(eco) >= set(SERVICES) - {"discovery"}, timeout_s=60)
    before = eco.kill("discovery")
    eco.wait_restarted("discovery", before)
    back = time.monotonic()
    wanted = set(SERVICES) - {"discovery"}
    try:
        wait_until(lambda: _passing(eco) >= wanted, timeout_s=LEASE_TTL_S, interval_s=0.2)
    except TimeoutError:
        raise AssertionError(
            f"after {time.monotonic() - back:.1f} s only {_passing(eco)} pass"
        ) from None
    _a_query_completes(eco, "discovery")


def test_redis_sigkilled_is_restarted_on_the_same_port_from_its_aof(eco: EcoUp) -> None:
    url = eco.state["redis_url"]
    client = redis.Redis.from_url(eco.redis_url())  # eco's own Redis user: the default is off
    client.set("faults:before-kill", "kept")
    time.sleep(1.5)  # appendfsync everysec: what is a second old is on disk
    before = eco.kill("redis")
    after = eco.wait_restarted("redis", before, timeout_s=30)
    assert after["url"] == url
    assert after["last_exit"] == "killed by SIGKILL"
    assert eco.read()["redis_url"] == url
    assert client.get("faults:before-kill") == b"kept"
    assert client.config_get("appendonly")["appendonly"] == "yes"
    client.close()
    assert Path(after["log"]).exists()
    # the services ride it out without a restart of their own
    for name in SERVICES:
        assert eco.process(name)["state"] == "ready", eco.process(name)


@pytest.mark.timeout(300)
def test_queries_work_again_after_redis_restart(eco: EcoUp) -> None:
    """Runs after the Redis restart of the test above (the services' own recovery)."""
    assert eco.process("redis")["restarts"] >= 1
    wait_until(eco.all_ready, timeout_s=LEASE_TTL_S * 5, interval_s=0.5)
    outcomes: list[str] = []

    def answered() -> bool:
        asked = eco.eco("ask", QUERY, "--json")
        outcomes.append(asked.stdout[-300:] + asked.stderr[-300:])
        return asked.returncode == 0

    try:
        wait_until(answered, timeout_s=90, interval_s=1)
    except TimeoutError:
        raise AssertionError(f"eco ask never answered again: {outcomes}") from None

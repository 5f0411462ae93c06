"""The orchestrator and the prompt store together, as real processes over a private Redis:
the shipped prompts are seeded with the sha256s provenance always named; a run pins the
bytes it resolved (a label moved between its review pause and its resume does not reach
it, the next run gets the new version); the store SIGKILLed mid-run leaves the run to
finish on its cached prompts, and provenance says so; experiment arms are sticky across
two orchestrator replicas and a restart; `run.completed` carries what outcomes need."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import pytest

from eco_shared.prompts.assign import assign
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.ecosystem import PrivateEcosystem, wait_runs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

QUERY = "How healthy is the ecosystem?"
PROMPT = "classify_query"  # used by every run, in its first node
EDITOR = ("prompts:read", "prompts:write")
USER_SCOPES = (
    "runs:create runs:read runs:write docs:read docs:write gateway:chat gateway:read "
    "discovery:read logs:read"
).split()


@pytest.fixture(scope="module")
def eco(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateEcosystem]:
    # a short cache TTL, so an experiment started on a label reaches the next runs soon
    eco = PrivateEcosystem(
        tmp_path_factory.mktemp("prompts"), ECO_ORCHESTRATOR_PROMPT_CACHE_TTL_S="1"
    )
    try:
        yield eco.start()
    finally:
        eco.stop()


def _store(eco: PrivateEcosystem) -> httpx.Client:
    return eco.client("prompt-store", EDITOR, subject="user:editor", timeout=10)


def _shipped() -> dict[str, str]:
    """name -> sha256 of each shipped prompt file's exact bytes (as `load_prompt` hashed)."""
    folder = resources.files("eco_orchestrator").joinpath("prompts")
    return {
        item.name.split(".v")[0]: hashlib.sha256(item.read_bytes()).hexdigest()
        for item in folder.iterdir()
        if item.name.endswith((".md", ".json"))
    }


def _production(store: httpx.Client, name: str) -> dict[str, Any] | None:
    response = store.get(f"/prompts/{name}/labels/production")
    return response.json() if response.status_code == 200 else None


def _seeded(eco: PrivateEcosystem) -> None:
    with _store(eco) as store:
        wait_until(lambda: all(_production(store, n) for n in _shipped()), timeout_s=60)


def _run(eco: PrivateEcosystem, subject: str = "user:test", *, review: bool = False) -> str:
    with eco.client("orchestrator", USER_SCOPES, subject=subject, timeout=30) as client:
        response = client.post("/queries", json={"query": QUERY, "review": review})
        assert response.status_code == 202, response.text
        return str(response.json()["run_id"])


def _finished(eco: PrivateEcosystem, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    with eco.http(timeout=30) as client:
        runs = wait_runs(client, eco.url("orchestrator"), run_ids, timeout_s=300)
    for run_id, run in runs.items():
        assert run["status"] == "completed", (run_id, run.get("status"), run.get("error"))
    return runs


def _prompts_used(eco: PrivateEcosystem, run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    with eco.http(timeout=30) as client:
        url = f"{eco.url('doc-store')}/documents/{run['document_id']}/provenance"
        record = client.get(url).json()
    return {p["name"]: p for p in record["prompts_used"]}


def _new_version(store: httpx.Client, name: str, indent: int) -> dict[str, Any]:
    """The same JSON task with other bytes (a new version), not labelled."""
    current = _production(store, name)
    assert current is not None
    text = json.dumps(json.loads(current["template"]), indent=indent)
    response = store.post(f"/prompts/{name}/versions", json={"template": text})
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def _move(store: httpx.Client, name: str, version: int) -> None:
    current = _production(store, name)
    assert current is not None
    body = {"version": version, "expected_version": current["version"], "reason": "test"}
    response = store.put(f"/prompts/{name}/labels/production", json=body)
    assert response.status_code == 200, response.text


def _events(eco: PrivateEcosystem, event_type: str) -> list[dict[str, Any]]:
    """The data of the stored `event_type` events, newest first, from the log collector
    (`eco.events` itself is trimmed as soon as every consumer group has read an entry)."""
    with eco.client("log-collector", ["logs:read"], timeout=10) as client:
        page = client.get("/events", params={"type": event_type, "limit": 100})
    assert page.status_code == 200, page.text
    return [item["data"] for item in page.json()["items"]]


def test_seeding_reproduces_the_sha256s_provenance_named(eco: PrivateEcosystem) -> None:
    _seeded(eco)
    with _store(eco) as store:
        for name, sha256 in _shipped().items():
            version = _production(store, name)
            assert version is not None
            assert version["sha256"] == sha256, name
            assert hashlib.sha256(version["template"].encode()).hexdigest() == sha256
            syntax = "fstring" if name.startswith("api_reference") else "mustache"
            assert version["syntax"] == syntax
            found = store.get(f"/prompts/by-sha256/{sha256}")
            assert found.status_code == 200
            assert found.json()["sha256"] == sha256
    # a run's provenance names those very hashes, from the store
    run = _finished(eco, [_run(eco)])
    used = _prompts_used(eco, next(iter(run.values())))
    assert used[PROMPT]["sha256"] == _shipped()[PROMPT]
    assert used[PROMPT]["source"] in ("store", "cache")
    assert used[PROMPT]["label"] == "production"
    assert used[PROMPT]["rendered_sha256"] == _shipped()[PROMPT]  # no variables: same bytes


def test_a_run_keeps_its_pinned_prompt_when_the_label_moves_under_it(
    eco: PrivateEcosystem,
) -> None:
    _seeded(eco)
    with _store(eco) as store:
        before = _production(store, PROMPT)
        assert before is not None
        paused = _run(eco, review=True)
        with eco.client("orchestrator", USER_SCOPES, timeout=30) as client:
            wait_until(
                lambda: client.get(f"/runs/{paused}").json()["status"] == "waiting_review",
                timeout_s=120,
            )
            # a run not finished cannot be rated yet
            early = client.post(f"/runs/{paused}/feedback", json={"rating": "up"})
            assert early.status_code == 409, early.text
            newer = _new_version(store, PROMPT, indent=3)
            _move(store, PROMPT, newer["version"])
            resumed = client.post(f"/runs/{paused}/resume", json={"approve": True})
            assert resumed.status_code == 202, resumed.text
        [kept] = _finished(eco, [paused]).values()
        assert _prompts_used(eco, kept)[PROMPT]["sha256"] == before["sha256"]
        assert _prompts_used(eco, kept)[PROMPT]["version"] == str(before["version"])
        # the next run: the new version (the watch feed told the orchestrator at once)
        [fresh] = _finished(eco, [_run(eco)]).values()
        used = _prompts_used(eco, fresh)[PROMPT]
        assert (used["version"], used["sha256"]) == (str(newer["version"]), newer["sha256"])

    # the outcome event of a completed run carries what the store computes outcomes from
    def completed() -> dict[str, Any] | None:
        found = [e for e in _events(eco, "run.completed") if e.get("run_id") == fresh["run_id"]]
        return found[0] if found else None

    wait_until(completed, timeout_s=30)
    event = completed()
    assert event is not None
    assert {p["name"] for p in event["prompts_used"]} >= {PROMPT, "extract_entities"}
    assert event["latency_ms"] > 0
    assert event["tokens"] > 0
    assert event["revisions"] == 0


def test_the_store_killed_mid_run_the_run_finishes_on_its_cached_prompts(
    eco: PrivateEcosystem,
) -> None:
    _seeded(eco)
    _finished(eco, [_run(eco)])  # the orchestrator has the prompts cached now
    store = eco.procs["prompt-store"]
    run_id = _run(eco)
    store.kill()
    try:
        [run] = _finished(eco, [run_id]).values()
        used = _prompts_used(eco, run)
        assert used[PROMPT]["source"] in ("cache", "stale", "snapshot")
        assert used[PROMPT]["sha256"]
        # and while it stays down, new runs are served their last good prompts too
        [later] = _finished(eco, [_run(eco)]).values()
        assert _prompts_used(eco, later)[PROMPT]["source"] in ("stale", "snapshot")
    finally:
        eco.start_service("prompt-store", port=store.port)


def _arms(eco: PrivateEcosystem, subjects: list[str]) -> dict[str, set[str | None]]:
    runs = _finished(eco, [_run(eco, s) for s in subjects])
    arms: dict[str, set[str | None]] = {}
    for run in runs.values():
        arms.setdefault(run["owner"], set()).add(_prompts_used(eco, run)[PROMPT]["experiment_arm"])
    return arms


def test_assignment_is_sticky_across_replicas_and_restarts(eco: PrivateEcosystem) -> None:
    _seeded(eco)
    with _store(eco) as store:
        current = _production(store, PROMPT)
        assert current is not None
        other = _new_version(store, PROMPT, indent=5)
        arms = [
            {"name": "control", "version": current["version"], "weight": 0.5},
            {"name": "treatment", "version": other["version"], "weight": 0.5},
        ]
        body = {
            "name": f"sticky-{time.time_ns()}",
            "prompt": PROMPT,
            "label": "production",
            "arms": arms,
            "salt": "sticky-salt",
        }
        created = store.post("/experiments", json=body)
        assert created.status_code == 201, created.text
    expected = {
        f"user:u{i}": assign("sticky-salt", f"user:u{i}", [("control", 0.5), ("treatment", 0.5)])
        for i in range(6)
    }
    assert set(expected.values()) == {"control", "treatment"}
    # the cached resolution (no experiment yet) expires within its 1 s TTL
    wait_until(lambda: _arms(eco, ["user:u0"])["user:u0"] == {expected["user:u0"]}, timeout_s=60)
    first = eco.procs["orchestrator"]
    second = eco.start_service("orchestrator")  # a second replica, sharing the run queue
    try:
        subjects = [s for s in expected for _ in range(2)]
        seen = _arms(eco, subjects)
        assert seen == {s: {arm} for s, arm in expected.items()}
        # both replicas restarted: the same arms again (from the store or the snapshot)
        _restart(eco, first)
        _restart(eco, second)
        assert _arms(eco, list(expected)) == {s: {arm} for s, arm in expected.items()}
    finally:
        second.terminate()
        eco.procs["orchestrator"] = first


def _restart(eco: PrivateEcosystem, proc: ServiceProcess) -> None:
    proc.terminate()
    proc.start(timeout_s=90)

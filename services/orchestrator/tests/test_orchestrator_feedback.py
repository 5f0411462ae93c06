"""`POST /runs/{id}/feedback`: a user's verdict on their finished run, passed on to the
prompt store as a `run.feedback` event on eco.events. Only the run's owner may give it
(another principal's run is 404), it needs `runs:write`, the body is one of `rating` or
`score`, and a run that has not finished is a 409. A real orchestrator process."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis

from eco_shared.adapters import AdapterError
from eco_shared.adapters.orchestrator import OrchestratorAdapter
from eco_shared.http import ServiceClient
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import MintedTokens, TestAuth

USER = ["runs:create", "runs:read", "runs:write", "discovery:read"]
ALICE = TestAuth("orchestrator", USER, subject="user:alice")
BOB = TestAuth("orchestrator", USER, subject="user:bob")
READ_ONLY = TestAuth("orchestrator", ["runs:create", "runs:read"], subject="user:alice")
FINAL = {"completed", "failed", "cancelled", "needs_clarification"}


def _run(client: httpx.Client) -> str:
    response = client.post("/queries", json={"query": "How healthy is the ecosystem?"})
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


def _status(client: httpx.Client, run_id: str) -> str:
    return str(client.get(f"/runs/{run_id}").json()["status"])


def _feedback_events(proc: ServiceProcess) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(proc.extra_env["ECO_REDIS_URL"], decode_responses=True)
    try:
        entries = client.xrange(proc.extra_env["ECO_REDIS_PREFIX"] + "eco.events")
    finally:
        client.close()
    return [
        {**json.loads(f["data"]), "source": f["source"]}
        for _, f in entries
        if f["type"] == "run.feedback"
    ]


def test_the_owner_rates_a_finished_run_and_it_goes_out_as_run_feedback(
    orchestrator: ServiceProcess,
) -> None:
    with httpx.Client(base_url=orchestrator.url, auth=ALICE, timeout=30) as alice:
        run_id = _run(alice)
        wait_until(lambda: _status(alice, run_id) in FINAL, timeout_s=60)
        up = alice.post(f"/runs/{run_id}/feedback", json={"rating": "up", "comment": "clear"})
        assert up.status_code == 202, up.text
        assert up.json() == {"run_id": run_id, "rating": "up", "score": None}
        scored = alice.post(f"/runs/{run_id}/feedback", json={"score": 0.25})
        assert scored.status_code == 202, scored.text

    def published() -> list[dict[str, Any]]:
        return [e for e in _feedback_events(orchestrator) if e["run_id"] == run_id]

    wait_until(lambda: len(published()) == 2, timeout_s=20)
    first, second = published()
    assert first == {
        "run_id": run_id,
        "rating": "up",
        "comment": "clear",
        "by": "user:alice",
        "source": "orchestrator",
    }
    assert (second["score"], second["by"], "rating" in second) == (0.25, "user:alice", False)


def test_feedback_is_the_owners_with_runs_write_and_one_verdict(
    orchestrator: ServiceProcess,
) -> None:
    with (
        httpx.Client(base_url=orchestrator.url, auth=ALICE, timeout=30) as alice,
        httpx.Client(base_url=orchestrator.url, auth=BOB, timeout=30) as bob,
        httpx.Client(base_url=orchestrator.url, auth=READ_ONLY, timeout=30) as reader,
    ):
        run_id = _run(alice)
        wait_until(lambda: _status(alice, run_id) in FINAL, timeout_s=60)
        before = len(_feedback_events(orchestrator))
        # another principal's run does not exist for them
        other = bob.post(f"/runs/{run_id}/feedback", json={"rating": "down"})
        assert other.status_code == 404, other.text
        assert other.headers["content-type"].startswith("application/problem+json")
        # runs:read is not enough
        refused = reader.post(f"/runs/{run_id}/feedback", json={"rating": "down"})
        assert refused.status_code == 403, refused.text
        assert "runs:write" in refused.text
        unknown = alice.post("/runs/nope/feedback", json={"rating": "down"})
        assert unknown.status_code == 404
        for body in (
            {},
            {"rating": "up", "score": 1.0},
            {"rating": "sideways"},
            {"score": 1.5},
            {"score": -0.1},
            {"rating": "up", "comment": "x" * 2001},
        ):
            bad = alice.post(f"/runs/{run_id}/feedback", json=body)
            assert bad.status_code == 422, (body, bad.text)
            assert bad.headers["content-type"].startswith("application/problem+json")
        time.sleep(0.5)  # what was refused must not be published late either
        assert len(_feedback_events(orchestrator)) == before
    spec = httpx.get(orchestrator.url + "/openapi.json", timeout=10).json()
    declared = spec["paths"]["/runs/{run_id}/feedback"]["post"]
    assert {"202", "404", "409", "422"} <= set(declared["responses"])
    assert declared["x-eco-scopes"] == ["runs:write"]


@contextlib.contextmanager
def _black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers: discovery that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def test_a_run_that_has_not_finished_cannot_be_rated(
    start_orchestrator: Callable[..., contextlib.AbstractContextManager[ServiceProcess]],
) -> None:
    with _black_hole() as port, start_orchestrator(node_timeout_s="120") as proc:
        # the run's first node waits on discovery, which never answers
        proc.terminate()
        proc.extra_env["ECO_DISCOVERY_URL"] = f"http://127.0.0.1:{port}"
        proc.start(timeout_s=90)
        with httpx.Client(base_url=proc.url, auth=ALICE, timeout=30) as alice:
            run_id = _run(alice)
            wait_until(lambda: _status(alice, run_id) == "running", timeout_s=30)
            early = alice.post(f"/runs/{run_id}/feedback", json={"rating": "up"})
            assert early.status_code == 409, early.text
            assert "running" in early.json()["detail"]
            assert _feedback_events(proc) == []
            assert alice.post(f"/runs/{run_id}/cancel").status_code == 202


async def test_the_adapter_gives_feedback(orchestrator: ServiceProcess) -> None:
    with httpx.Client(base_url=orchestrator.url, auth=ALICE, timeout=30) as alice:
        run_id = _run(alice)
        wait_until(lambda: _status(alice, run_id) in FINAL, timeout_s=60)
    tokens = MintedTokens(USER, subject="user:alice")
    async with ServiceClient(service_name="cli", tokens=tokens) as http:
        adapter = OrchestratorAdapter(http, base_url=orchestrator.url)
        accepted = await adapter.feedback(run_id, score=0.75, comment="good")
        assert (accepted.run_id, accepted.score, accepted.rating) == (run_id, 0.75, None)
        with pytest.raises(AdapterError) as refused:
            await adapter.feedback("unknown-run", rating="up")
        assert refused.value.status == 404
    wait_until(
        lambda: any(
            e["run_id"] == run_id and e.get("score") == 0.75 for e in _feedback_events(orchestrator)
        ),
        timeout_s=20,
    )

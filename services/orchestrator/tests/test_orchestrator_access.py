"""Who may do what with runs: every route needs a valid token for the orchestrator and its
scope; a run belongs to the verified caller, another principal's run does not exist for
them (404 everywhere, never listed), `runs:read:all` sees every run; cancels are audited;
run events carry the owner. A real orchestrator process, tokens minted for users."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import redis

from eco_shared.adapters.orchestrator import parse_sse
from eco_shared.auth import mint, new_signing_key
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth, session_material, token

USER = (
    "docs:read docs:write runs:create runs:read runs:write gateway:chat gateway:read "
    "discovery:read auth:keys"
).split()
ALICE = TestAuth("orchestrator", USER, subject="user:alice")
BOB = TestAuth("orchestrator", USER, subject="user:bob")
# an operator who reads every run and may cancel them
OPERATOR = TestAuth("orchestrator", ["runs:read:all", "runs:write"], subject="user:ops")
# an auditor who reads every run and nothing else
AUDITOR = TestAuth("orchestrator", ["runs:read:all"], subject="user:auditor")
ADMIN = TestAuth("orchestrator")
FINAL = {"completed", "failed", "cancelled", "needs_clarification"}


def _client(orchestrator: ServiceProcess, auth: httpx.Auth | None) -> httpx.Client:
    return httpx.Client(base_url=orchestrator.url, timeout=30, auth=auth)


def _start(client: httpx.Client, **body: Any) -> str:
    response = client.post("/queries", json={"query": "How healthy is the ecosystem?", **body})
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


def _finished(client: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run = client.get(f"/runs/{run_id}").json()
        if run["status"] in FINAL:
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def _all_run_ids(orchestrator: ServiceProcess) -> set[str]:
    with _client(orchestrator, ADMIN) as admin:
        items = admin.get("/runs", params={"page_size": 200}).json()["items"]
    return {r["run_id"] for r in items}


def _stream(orchestrator: ServiceProcess, name: str) -> list[dict[str, Any]]:
    """The events on one bus stream of the orchestrator's deployment (type and data)."""
    client = redis.Redis.from_url(orchestrator.extra_env["ECO_REDIS_URL"], decode_responses=True)
    try:
        key = orchestrator.extra_env["ECO_REDIS_PREFIX"] + name
        entries = client.xrange(key)
    finally:
        client.close()
    return [{"type": f["type"], **json.loads(f["data"])} for _, f in entries]


def test_another_principals_run_does_not_exist_for_them(orchestrator: ServiceProcess) -> None:
    with _client(orchestrator, ALICE) as alice, _client(orchestrator, BOB) as bob:
        # alice claims to be bob in the body: a claim, kept as claimed, never the owner
        run_id = _start(alice, user_id="bob")
        mine = alice.get(f"/runs/{run_id}").json()
        assert (mine["owner"], mine["user_id"]) == ("user:alice", "bob")

        for method, path, body in [
            ("GET", f"/runs/{run_id}", None),
            ("GET", f"/runs/{run_id}/events", None),
            ("POST", f"/runs/{run_id}/cancel", None),
            ("POST", f"/runs/{run_id}/resume", {"approve": True}),
        ]:
            response = bob.request(method, path, json=body)
            assert response.status_code == 404, (method, path, response.text)
            # exactly as if it did not exist
            assert response.json()["title"] == "Run not found"
        for params in ({}, {"user_id": "bob"}, {"owner": "user:alice"}):
            listed = bob.get("/runs", params={"page_size": 200, **params}).json()
            assert run_id not in {r["run_id"] for r in listed["items"]}, params
            assert {r["owner"] for r in listed["items"]} <= {"user:bob"}

        # bob's cancel changed nothing: the run ends as it would have (discovery is away)
        assert _finished(alice, run_id)["status"] == "failed"
        events = parse_sse(alice.get(f"/runs/{run_id}/events").text)
        assert "run.cancelled" not in [e.event for e in events]
        own = alice.get("/runs", params={"page_size": 200}).json()["items"]
        assert run_id in {r["run_id"] for r in own}
        assert {r["owner"] for r in own} == {"user:alice"}


def test_runs_read_all_sees_every_run(orchestrator: ServiceProcess) -> None:
    with _client(orchestrator, ALICE) as alice, _client(orchestrator, BOB) as bob:
        alices, bobs = _start(alice), _start(bob)
    with _client(orchestrator, AUDITOR) as auditor:
        assert auditor.get(f"/runs/{alices}").json()["owner"] == "user:alice"
        assert auditor.get(f"/runs/{bobs}").json()["owner"] == "user:bob"
        everyone = auditor.get("/runs", params={"page_size": 200}).json()["items"]
        assert {alices, bobs} <= {r["run_id"] for r in everyone}
        only_bob = auditor.get("/runs", params={"owner": "user:bob", "page_size": 200}).json()
        assert bobs in {r["run_id"] for r in only_bob["items"]}
        assert {r["owner"] for r in only_bob["items"]} == {"user:bob"}
        # reading every run is not writing any: cancel needs runs:write
        refused = auditor.post(f"/runs/{bobs}/cancel")
        assert refused.status_code == 403
        assert refused.json()["missing_scopes"] == ["runs:write"]


def test_a_cancel_is_audited_with_the_owner_and_who_cancelled(
    orchestrator: ServiceProcess,
) -> None:
    with (
        _client(orchestrator, ALICE) as alice,
        _client(orchestrator, BOB) as bob,
        _client(orchestrator, OPERATOR) as operator,
    ):
        own = _start(alice)
        assert alice.post(f"/runs/{own}/cancel").status_code == 202
        bobs = _start(bob)
        assert operator.post(f"/runs/{bobs}/cancel").status_code == 202
        assert _finished(alice, own)["status"] == "cancelled"
        assert _finished(operator, bobs)["status"] == "cancelled"

    def audited() -> dict[str, dict[str, Any]]:
        return {
            e["run_id"]: e
            for e in _stream(orchestrator, "eco.audit")
            if e["type"] == "run.cancelled"
        }

    wait_until(lambda: {own, bobs} <= set(audited()), timeout_s=10)
    records = audited()
    assert (records[own]["owner"], records[own]["by"]) == ("user:alice", "user:alice")
    assert (records[bobs]["owner"], records[bobs]["by"]) == ("user:bob", "user:ops")


def test_run_events_carry_the_owner(orchestrator: ServiceProcess) -> None:
    with _client(orchestrator, ALICE) as alice:
        run_id = _start(alice)
        _finished(alice, run_id)
        events = {e.event: e.data for e in parse_sse(alice.get(f"/runs/{run_id}/events").text)}
    assert events["run.queued"]["owner"] == "user:alice"
    assert events["run.failed"]["owner"] == "user:alice"

    def announced() -> list[dict[str, Any]]:
        return [e for e in _stream(orchestrator, "eco.events") if e.get("run_id") == run_id]

    wait_until(lambda: any(e["type"] == "run.failed" for e in announced()), timeout_s=10)
    for event in announced():
        assert event["owner"] == "user:alice", event


def _bad_tokens() -> dict[str, dict[str, str]]:
    session_key = session_material().signing_keys().current
    foreign = mint(new_signing_key(), subject="user:x", audience="orchestrator", scopes={"admin"})
    expired = mint(
        session_key,
        subject="user:x",
        audience="orchestrator",
        scopes={"admin"},
        now=time.time() - 3600,
    )
    wrong_issuer = mint(
        session_key,
        subject="user:x",
        audience="orchestrator",
        scopes={"admin"},
        issuer="spiffe://elsewhere",
    )
    return {
        "none": {},
        "not a JWT": {"Authorization": "Bearer not-a-token"},
        "for the doc store": {"Authorization": f"Bearer {token('doc-store')}"},
        "signed by a foreign key": {"Authorization": f"Bearer {foreign}"},
        "expired": {"Authorization": f"Bearer {expired}"},
        "from another issuer": {"Authorization": f"Bearer {wrong_issuer}"},
    }


def _operations(orchestrator: ServiceProcess) -> list[tuple[str, str, list[str], Any]]:
    spec = httpx.get(orchestrator.url + "/openapi.json", timeout=10).json()
    ops = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if op.get("x-eco-public"):
                continue
            body = {"approve": True} if path.endswith("/resume") else {"query": "hello"}
            concrete = path.replace("{run_id}", "r1").replace("{document_id}", "d1")
            ops.append((method.upper(), concrete, op["x-eco-scopes"], body))
    return ops


def test_no_valid_token_never_gets_a_2xx(orchestrator: ServiceProcess) -> None:
    operations = _operations(orchestrator)
    # every route but health and metrics is protected, each with the scope it declares
    assert {(m, p) for m, p, _, _ in operations} >= {
        ("POST", "/queries"),
        ("POST", "/execute-query"),
        ("GET", "/runs"),
        ("GET", "/runs/r1"),
        ("GET", "/runs/r1/events"),
        ("POST", "/runs/r1/cancel"),
        ("POST", "/runs/r1/resume"),
        ("GET", "/documents/d1/provenance"),
    }
    assert all(scopes for _, _, scopes, _ in operations)
    before = _all_run_ids(orchestrator)
    with httpx.Client(base_url=orchestrator.url, timeout=30) as client:
        for name, headers in _bad_tokens().items():
            for method, path, _, body in operations:
                response = client.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (name, method, path, response.text)
                assert response.headers["www-authenticate"].startswith("Bearer ")
                assert 'error="invalid_token"' in response.headers["www-authenticate"] or (
                    name == "none"
                )
    assert _all_run_ids(orchestrator) == before  # nothing was queued


@pytest.mark.parametrize(
    ("scopes", "method", "path", "missing"),
    [
        (["runs:read"], "POST", "/queries", "runs:create"),
        (["runs:read"], "POST", "/execute-query", "runs:create"),
        (["runs:create"], "GET", "/runs", "runs:read"),
        (["runs:create"], "GET", "/runs/r1", "runs:read"),
        (["runs:create"], "GET", "/runs/r1/events", "runs:read"),
        (["runs:read"], "POST", "/runs/r1/cancel", "runs:write"),
        (["runs:read"], "POST", "/runs/r1/resume", "runs:write"),
        (["docs:read"], "GET", "/documents/d1/provenance", "runs:read"),
    ],
)
def test_each_route_needs_its_scope(
    orchestrator: ServiceProcess, scopes: list[str], method: str, path: str, missing: str
) -> None:
    before = _all_run_ids(orchestrator)
    body = {"approve": True} if path.endswith("/resume") else {"query": "hello"}
    auth = TestAuth("orchestrator", scopes, subject="user:narrow")
    with _client(orchestrator, auth) as client:
        response = client.request(method, path, json=body)
    assert response.status_code == 403, response.text
    assert response.json()["missing_scopes"] == [missing]
    assert "insufficient_scope" in response.headers["www-authenticate"]
    assert _all_run_ids(orchestrator) == before

"""The orchestrator's API on its own: bad input, a run meeting a dead service, events
resumed with Last-Event-ID, cancel, checkpoint pruning, and the adapter against the spec."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from eco_shared.adapters import AdapterError, check_adapter_against_openapi
from eco_shared.adapters.orchestrator import OrchestratorAdapter, parse_sse
from eco_shared.http import ServiceClient
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import MintedTokens, TestAuth

# an operator: every scope, every principal's runs
ADMIN = TestAuth("orchestrator")


def _wait_status(client: httpx.Client, run_id: str, statuses: set[str], timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while True:
        run = client.get(f"/runs/{run_id}").json()
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run stuck in {run['status']}: {run}"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"query": ""}, 422),
        ({"query": "   "}, 422),
        ({"query": "x" * 501}, 422),
        ({"query": "x" * 6000}, 413),
        ({"query": "ok", "format": "docx"}, 422),
        ({"query": "ok", "review": "maybe"}, 422),
        # strict types: the schema says boolean, so neither 0 nor "true" is one
        ({"query": "ok", "review": 0}, 422),
        ({"query": "ok", "review": "true"}, 422),
        ({"query": 7}, 422),
        ({"query": "\x1c\u00a0"}, 422),
        ([], 422),
        ("{", 400),
    ],
)
def test_bad_queries_are_problems(orchestrator: ServiceProcess, body: Any, status: int) -> None:
    with httpx.Client(base_url=orchestrator.url, timeout=10, auth=ADMIN) as client:
        before = client.get("/runs").json()["total"]
        if isinstance(body, str):
            headers = {"content-type": "application/json"}
            response = client.post("/queries", content=body, headers=headers)
        else:
            response = client.post("/queries", json=body)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == status
        # nothing was queued for a refused query
        assert client.get("/runs").json()["total"] == before


def test_unknown_runs_are_404(orchestrator: ServiceProcess) -> None:
    with httpx.Client(base_url=orchestrator.url, timeout=10, auth=ADMIN) as client:
        for method, path in [
            ("GET", "/runs/nope"),
            ("GET", "/runs/nope/events"),
            ("POST", "/runs/nope/cancel"),
        ]:
            response = client.request(method, path)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["title"] == "Run not found"
        response = client.post("/runs/nope/resume", json={"approve": True})
        assert response.status_code == 404
        for bad in ({"approve": "yes"}, {"approve": 1}, {"approve": True, "edits": 7}):
            response = client.post("/runs/nope/resume", json=bad)
            assert response.status_code == 422, (bad, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        assert client.get("/runs", params={"status": "bogus"}).status_code == 422
        assert client.get("/runs", params={"page_size": 100000}).status_code == 422


def test_run_fails_naming_the_service_that_is_down(orchestrator: ServiceProcess) -> None:
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=ADMIN) as client:
        accepted = client.post("/queries", json={"query": "How healthy is the ecosystem?"})
        assert accepted.status_code == 202
        body = accepted.json()
        assert body["status"] == "queued"
        assert body["events_url"].endswith(f"/runs/{body['run_id']}/events")
        run = _wait_status(client, body["run_id"], {"failed", "completed"})
        assert run["status"] == "failed"
        assert "discovery" in run["error"]
        assert run["current_node"] == "understand"
        assert run["executions"] == 1

        # the whole event log, then the same stream resumed after its second event
        events = parse_sse(client.get(f"/runs/{body['run_id']}/events").text)
        types = [e.event for e in events]
        assert types[:3] == ["run.queued", "run.started", "node.started"]
        assert "node.failed" in types
        assert types[-1] == "run.failed"
        assert "discovery" in events[-1].data["error"]
        resumed = parse_sse(
            client.get(
                f"/runs/{body['run_id']}/events", headers={"Last-Event-ID": events[1].id}
            ).text
        )
        assert [e.id for e in resumed] == [e.id for e in events[2:]]
        bad = client.get(f"/runs/{body['run_id']}/events", headers={"Last-Event-ID": "x"})
        assert bad.status_code == 422

        # finished runs' checkpoints are pruned after the retention period (0 s here)
        deadline = time.monotonic() + 20
        while not client.get(f"/runs/{body['run_id']}").json()["checkpoints_pruned"]:
            assert time.monotonic() < deadline, "checkpoints never pruned"
            time.sleep(0.2)
        kept = client.get(f"/runs/{body['run_id']}").json()
        assert kept["status"] == "failed"  # the record outlives its checkpoints


def test_cancel_stops_the_run(orchestrator: ServiceProcess) -> None:
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=ADMIN) as client:
        run_id = client.post(
            "/queries", json={"query": "What went wrong?", "user_id": "canceller"}
        ).json()["run_id"]
        cancelled = client.post(f"/runs/{run_id}/cancel")
        assert cancelled.status_code == 202
        run = _wait_status(client, run_id, {"cancelled", "failed", "completed"})
        assert run["status"] == "cancelled"
        events = parse_sse(client.get(f"/runs/{run_id}/events").text)
        assert events[-1].event == "run.cancelled"
        assert "run.failed" not in [e.event for e in events]
        again = client.post(f"/runs/{run_id}/cancel")
        assert again.status_code == 409
        listed = client.get("/runs", params={"status": "cancelled", "user_id": "canceller"}).json()
        assert [r["run_id"] for r in listed["items"]] == [run_id]


async def test_adapter_matches_the_spec_and_works(orchestrator: ServiceProcess) -> None:
    async with httpx.AsyncClient() as raw:  # the OpenAPI document is public
        spec = (await raw.get(orchestrator.url + "/openapi.json")).json()
    assert check_adapter_against_openapi(OrchestratorAdapter, spec) == []
    post = spec["paths"]["/queries"]["post"]
    assert post["x-eco-intent"]

    async with ServiceClient(service_name="test", tokens=MintedTokens()) as http:
        adapter = OrchestratorAdapter(http, base_url=orchestrator.url)
        accepted = await adapter.submit_query("How healthy is the ecosystem?", user_id="ada")
        run = await adapter.get_run(accepted.run_id)
        assert run.user_id == "ada"  # the claim, kept as claimed
        assert run.owner == "user:test"  # the verified caller
        events = await adapter.run_events(accepted.run_id, timeout_s=60)
        assert events[-1].event == "run.failed"
        later = await adapter.run_events(accepted.run_id, after=events[0].id)
        assert [e.id for e in later] == [e.id for e in events[1:]]
        runs = await adapter.list_runs(user_id="ada")
        assert [r.run_id for r in runs.items] == [accepted.run_id]
        assert (await adapter.list_runs(user_id="nobody")).total == 0
        with pytest.raises(AdapterError) as conflict:
            await adapter.cancel_run(accepted.run_id)
        assert conflict.value.status == 409
        with pytest.raises(AdapterError) as not_paused:
            await adapter.resume_run(accepted.run_id, approve=True)
        assert not_paused.value.status == 409
        with pytest.raises(AdapterError) as unknown:
            await adapter.document_provenance("some-document")
        # only the documents the caller's runs stored are served: no run stored this one
        assert unknown.value.status == 404
        with pytest.raises(AdapterError) as failed:
            await adapter.execute_query("How healthy is the ecosystem?", timeout_s=60)
        assert failed.value.status == 502
        assert "discovery" in failed.value.problem["detail"]


def _aware(value: str | None) -> bool:
    return value is None or value.endswith("Z") or value[-6] in "+-"


def test_zip_is_a_format_and_times_carry_their_offset(orchestrator: ServiceProcess) -> None:
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=ADMIN) as client:
        accepted = client.post("/queries", json={"query": "What went wrong?", "format": "zip"})
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        run = _wait_status(client, run_id, {"failed", "cancelled", "completed"})
        assert run["format"] == "zip"
        assert run["download_url"] is None  # nothing stored: discovery is away
        # read back from the run store (SQLite keeps datetimes naive): RFC 3339 with offset
        listed = client.get("/runs", params={"page_size": 200}).json()["items"]
        for item in [run, *listed]:
            for field in ("created_at", "updated_at", "started_at", "finished_at"):
                assert _aware(item[field]), (field, item[field])

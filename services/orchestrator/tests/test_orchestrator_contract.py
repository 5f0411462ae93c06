"""The orchestrator against its own OpenAPI: schemathesis, every check and every phase.

Discovery is absent (as in the other tests of this package), so every run fails at its
first node and the routes that need the doc store answer their documented errors:
`GET /documents/{id}/provenance` 404 (no run of the caller stored it; 503 if one had,
the doc store being away) and `POST /execute-query` 502 (the run failed; 504 past its
wait). For those two operations, and only those 5xx statuses, schemathesis's
`not_a_server_error` is told they are expected; a 500 anywhere still fails the test.
Schemathesis calls as an operator (an `admin` token for the orchestrator).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest

from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import TestAuth, bearer
from eco_shared.testing.contract import assert_contract

# an SSE stream that stays open until the run's final event: schemathesis cannot drive it;
# test_orchestrator_api.py covers it (replay, Last-Event-ID, bad ids, unknown runs)
SSE = {
    "/runs/{run_id}/events": "server-sent events, covered by test_orchestrator_api.py",
    "/runs/watch": "server-sent events that stay open, covered by test_orchestrator_runs_list.py",
}

# per operation: the 5xx it answers by design while its upstream is away
UPSTREAM_DOWN = {
    "/documents/{document_id}/provenance": ([502, 503], "the doc store is not started"),
    "/execute-query": ([502, 503, 504], "discovery is absent, so the run fails"),
}

# a cursor is opaque: any string the schema allows may not be one this service handed out
REJECTIONS = {"/runs": ([400], "a `cursor` this service did not hand out")}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_orchestrator_keeps_its_contract(
    start_orchestrator: Callable[..., AbstractContextManager[ServiceProcess]],
) -> None:
    # the limits in the schema are the defaults, so they are left alone; runs fail at once
    # (one attempt a node) and /execute-query gives up (504) well before schemathesis's
    # 30 s request timeout, however many runs the fuzzing queued before it
    with start_orchestrator(node_max_attempts="1", execute_timeout_s="20") as orchestrator:
        _seed(orchestrator.url)
        assert_contract(
            orchestrator.url,
            exclude_paths=SSE,
            upstream_errors=UPSTREAM_DOWN,
            rejections=REJECTIONS,
            max_examples=20,
            headers=bearer("orchestrator"),
        )


def _seed(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10, auth=TestAuth("orchestrator")) as client:
        # something for the stateful phase to find: a run that has failed, one cancelled
        assert client.post("/queries", json={"query": "How healthy is it?"}).status_code == 202
        queued = client.post("/queries", json={"query": "What went wrong?", "format": "zip"})
        assert queued.status_code == 202
        client.post(f"/runs/{queued.json()['run_id']}/cancel")

"""`GET /runs` keyset pages (`cursor` -> `next_cursor`) beside the older offset pages, and
`GET /runs/watch`: the run-list change feed, resumable with Last-Event-ID, per caller."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx

from eco_shared.adapters.orchestrator import parse_sse
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import TestAuth, user_subject

ADMIN = TestAuth("orchestrator")


def _submit(client: httpx.Client, user_id: str, query: str = "How healthy is it?") -> str:
    response = client.post("/queries", json={"query": query, "user_id": user_id})
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


def _all_pages(client: httpx.Client, **params: Any) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = client.get("/runs", params=query).json()
        seen += [r["run_id"] for r in page["items"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            return seen


def test_cursor_pages_walk_every_run_once_newest_first(orchestrator: ServiceProcess) -> None:
    user = f"pager-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=ADMIN) as client:
        made = [_submit(client, user) for _ in range(5)]
        walked = _all_pages(client, user_id=user, page_size=2)
        assert sorted(walked) == sorted(made)
        assert len(walked) == 5
        # newest first: the same order as one big offset page
        whole = client.get("/runs", params={"user_id": user, "page_size": 50}).json()
        assert [r["run_id"] for r in whole["items"]] == walked
        assert whole["next_cursor"] is None
        assert whole["total"] == 5
        assert walked[0] == made[-1]
        # the offset pages still work, and hand out a cursor to continue by key
        second = client.get("/runs", params={"user_id": user, "page": 2, "page_size": 2}).json()
        assert [r["run_id"] for r in second["items"]] == walked[2:4]
        assert second["next_cursor"] is not None
        rest = client.get(
            "/runs", params={"user_id": user, "cursor": second["next_cursor"], "page_size": 2}
        ).json()
        assert [r["run_id"] for r in rest["items"]] == walked[4:]
        # a run made after the cursor was handed out does not shift the pages behind it
        first = client.get("/runs", params={"user_id": user, "page_size": 2}).json()
        newer = _submit(client, user)
        after = client.get(
            "/runs", params={"user_id": user, "cursor": first["next_cursor"], "page_size": 2}
        ).json()
        assert [r["run_id"] for r in after["items"]] == walked[2:4]
        assert newer not in [r["run_id"] for r in after["items"]]


def test_bad_cursors_are_problems(orchestrator: ServiceProcess) -> None:
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=ADMIN) as client:
        bad = client.get("/runs", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 400
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["errors"][0]["field"] == "cursor"
        assert client.get("/runs", params={"cursor": "x" * 500}).status_code == 422


def test_with_a_cursor_the_page_number_is_not_read(orchestrator: ServiceProcess) -> None:
    user = f"pager-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=ADMIN) as client:
        made = [_submit(client, user) for _ in range(3)]
        first = client.get("/runs", params={"user_id": user, "page_size": 1}).json()
        by_key = {"user_id": user, "cursor": first["next_cursor"], "page_size": 1}
        alone = client.get("/runs", params=by_key).json()
        both = client.get("/runs", params={**by_key, "page": 3}).json()
        assert [r["run_id"] for r in both["items"]] == [r["run_id"] for r in alone["items"]]
        assert both["items"][0]["run_id"] == made[1]
        assert both["page"] == 1


def _watch(
    url: str, auth: TestAuth, headers: dict[str, str], out: list[Any], stop: threading.Event
) -> None:
    """Follow `/runs/watch` into `out` (its status, then each event) until `stop`."""
    try:
        with httpx.Client(base_url=url, timeout=httpx.Timeout(30, read=60), auth=auth) as client:
            with client.stream("GET", "/runs/watch", headers=headers) as response:
                out.append(response.status_code)
                buffer = ""
                for chunk in response.iter_text():
                    buffer += chunk.replace("\r\n", "\n")
                    while "\n\n" in buffer:
                        block, buffer = buffer.split("\n\n", 1)
                        out.extend(parse_sse(block + "\n\n"))
                    if stop.is_set():
                        return
    except httpx.HTTPError:
        if not stop.is_set():  # the server going away after the test is not a failure
            raise


def _wait_for(predicate: Any, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


def test_watch_announces_runs_created_and_finishing(orchestrator: ServiceProcess) -> None:
    user = f"watcher-{uuid.uuid4().hex[:8]}"
    seen: list[Any] = []
    other_seen: list[Any] = []
    stop = threading.Event()
    other = TestAuth("orchestrator", ["runs:read"], subject=user_subject("someone-else"))
    threads = [
        threading.Thread(
            target=_watch, args=(orchestrator.url, ADMIN, {}, seen, stop), daemon=True
        ),
        threading.Thread(
            target=_watch, args=(orchestrator.url, other, {}, other_seen, stop), daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    _wait_for(lambda: seen[:1] == [200] and other_seen[:1] == [200])
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=ADMIN) as client:
        run_id = _submit(client, user)

        def mine() -> list[Any]:
            return [e for e in seen[1:] if e.data.get("run_id") == run_id]

        # discovery is absent: the run is created, starts, and fails at its first node
        _wait_for(lambda: any(e.event == "run.failed" for e in mine()))
    events = mine()
    assert [e.event for e in events][0] == "run.created"
    assert "run.started" in [e.event for e in events]
    assert all(e.id for e in events)
    # another principal's watch never hears of this run
    assert not [e for e in other_seen[1:] if e.data.get("run_id") == run_id]
    stop.set()
    # resumable: after the first change, the rest of them, in order, with the same ids
    replay: list[Any] = []
    stop2 = threading.Event()
    resume = {"Last-Event-ID": events[0].id}
    thread = threading.Thread(
        target=_watch, args=(orchestrator.url, ADMIN, resume, replay, stop2), daemon=True
    )
    thread.start()
    want = [e.id for e in events[1:]]
    _wait_for(
        lambda: [e.id for e in replay[1:] if e.data.get("run_id") == run_id][: len(want)] == want
    )
    stop2.set()


def test_watch_refuses_bad_ids_and_missing_scopes(orchestrator: ServiceProcess) -> None:
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=ADMIN) as client:
        bad = client.get("/runs/watch", headers={"Last-Event-ID": "yesterday"})
        assert bad.status_code == 422
        assert client.get("/runs/watch", params={"after": "1-2-3"}).status_code == 422
    with httpx.Client(base_url=orchestrator.url, timeout=30) as anonymous:
        assert anonymous.get("/runs/watch").status_code == 401
    unscoped = TestAuth("orchestrator", ["docs:read"])
    with httpx.Client(base_url=orchestrator.url, timeout=30, auth=unscoped) as client:
        assert client.get("/runs/watch").status_code == 403

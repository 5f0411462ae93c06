"""The runs list against the real ecosystem: the orchestrator's keyset cursor behind the
pager, and the list's live feed (`/runs/watch/live`): a new run's row and its statuses."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from eco_shared.sse import iter_sse
from eco_shared.testing import wait_until

from .conftest import Console, ask, wait_status

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _newest(console: Console, page_size: int) -> dict[str, Any]:
    url = f"{console.eco.url('orchestrator')}/runs"
    headers = console.eco.headers("orchestrator")
    got = httpx.get(url, params={"page_size": page_size}, headers=headers, timeout=10)
    assert got.status_code == 200, got.text
    return dict(got.json())


def test_the_runs_list_pages_by_the_orchestrators_cursor(console: Console) -> None:
    with console.signed_in() as client:
        older = ask(client, "Create API documentation for the doc-store service")
        newer = ask(client, "Create API documentation for the discovery service")
        first = client.get("/runs")
        assert first.status_code == 200
        assert f'data-run-status-cell="{newer}"' in first.text
        assert 'sse-connect="/runs/watch/live"' in first.text
        assert "data-new-runs" in first.text  # the bar, hidden until a run arrives
        # the orchestrator's cursor after the newest run: that page starts after it
        newest = _newest(console, 1)
        assert newest["items"][0]["run_id"] == newer
        after = client.get("/runs", params={"cursor": newest["next_cursor"]})
        assert after.status_code == 200
        assert f'href="/runs/{newer}"' not in after.text
        assert f'href="/runs/{older}"' in after.text
        assert "data-new-runs" not in after.text  # new runs belong to the first page only
        bad = client.get("/runs", params={"cursor": "not-ours"})
        assert bad.status_code == 400
        assert "cursor" in bad.text


def test_the_runs_list_hears_new_runs_and_their_statuses(console: Console) -> None:
    events: list[tuple[str, str, str]] = []
    stop = threading.Event()
    opened = threading.Event()

    def follow(client: httpx.Client) -> None:
        try:
            with client.stream("GET", "/runs/watch/live") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                opened.set()
                for event in iter_sse(stream.iter_lines()):
                    events.append((event.id, event.event, event.data))
                    if stop.is_set():
                        return
        except httpx.HTTPError:
            if not stop.is_set():
                raise

    with console.signed_in() as watcher, console.signed_in() as asker:
        thread = threading.Thread(target=follow, args=(watcher,), daemon=True)
        thread.start()
        wait_until(opened.is_set, timeout_s=30, interval_s=0.05)
        run_id = ask(asker, "Create API documentation for the log-collector service")
        wait_status(console, run_id, {"completed", "failed"})

        def heard_the_end() -> bool:
            return any(
                k == "status" and f'data-run-status="{run_id}"' in d and "completed" in d
                for _, k, d in events
            )

        wait_until(heard_the_end, timeout_s=60, interval_s=0.1)
        stop.set()
    created = [d for _, k, d in events if k == "created" and f'data-run="{run_id}"' in d]
    assert len(created) == 1
    assert f'href="/runs/{run_id}"' in created[0]
    assert "log-collector" in created[0]
    mine = [d for _, k, d in events if k == "status" and f'data-run-status="{run_id}"' in d]
    assert "queued" in mine[0]
    assert any("running" in d for d in mine)
    assert all(event_id for event_id, _, _ in events)


def test_the_runs_watch_needs_a_session_and_a_known_status(console: Console) -> None:
    with console.client() as anonymous:
        response = anonymous.get("/runs/watch/live")
        assert response.status_code in (401, 303)
    with console.signed_in() as client:
        assert client.get("/runs/watch/live", params={"status": "bogus"}).status_code == 422


def _live_events(
    client: httpx.Client, run_id: str, headers: dict[str, str]
) -> list[tuple[str, str, str]]:
    events: list[tuple[str, str, str]] = []
    with client.stream("GET", f"/runs/{run_id}/live", headers=headers) as stream:
        for event in iter_sse(stream.iter_lines()):
            events.append((event.id, event.event, event.data))
            if event.event == "finished":
                break
    return events


def test_the_run_stream_redraws_the_graph_as_nodes_run(console: Console) -> None:
    with console.signed_in() as client:
        run_id = ask(client, "Create API documentation for the prompt-store service")
        page = client.get(f"/runs/{run_id}")
        assert 'id="run-graph-body" sse-swap="graph"' in page.text
        events = _live_events(client, run_id, {})
        graphs = [(i, d) for i, k, d in events if k == "graph"]
        assert len(graphs) >= 5  # one per node state change
        first, last = graphs[0][1], graphs[-1][1]
        assert 'data-node="render" data-state="not_reached"' in first
        assert 'data-node="render" data-state="done"' in last
        assert 'data-node="store" data-state="done"' in last
        assert "<script" not in last
        assert "style=" not in last
        # resumed after the middle: only later events, yet the graph knows the earlier nodes
        middle = graphs[len(graphs) // 2][0]
        later = _live_events(client, run_id, {"Last-Event-ID": middle})
        assert middle not in [i for i, _, _ in later]
        redrawn = [d for _, k, d in later if k == "graph"]
        assert redrawn
        assert 'data-node="understand" data-state="done"' in redrawn[-1]

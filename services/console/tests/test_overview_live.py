"""The live pages' streams against the real ecosystem: the overview's (discovery's watch,
the runs' change feed and the error log fanned in to one SSE stream of redrawn parts), the
services list's (discovery's watch), and a reconnect that is sent every part at once."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest
import redis

from eco_shared.bus._event import envelope_fields, new_event_id, utc_now_rfc3339
from eco_shared.sse import iter_sse
from eco_shared.testing import wait_until

from .conftest import Console, ask, csrf_of, wait_status

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
Events = list[tuple[str, str, str]]


class Follower:
    """Reads a live page's stream in a thread: (id, event, data) of every message."""

    def __init__(
        self,
        client: httpx.Client,
        headers: dict[str, str] | None = None,
        path: str = "/live/overview",
    ) -> None:
        self.path = path
        self.events: Events = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._read, args=(client, headers or {}), daemon=True
        )
        self._thread.start()

    def _read(self, client: httpx.Client, headers: dict[str, str]) -> None:
        try:
            with client.stream("GET", self.path, headers=headers) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                for event in iter_sse(stream.iter_lines()):
                    self.events.append((event.id, event.event, event.data))
                    if self._stop.is_set():
                        return
        except httpx.HTTPError:
            if not self._stop.is_set():
                raise

    def of(self, kind: str) -> list[str]:
        return [d for _, k, d in self.events if k == kind]

    def stop(self) -> None:
        self._stop.set()


def _log_error(console: Console, text: str) -> None:
    stream = redis.Redis.from_url(console.eco.env["ECO_REDIS_URL"])
    stream.xadd(
        "eco.logs",
        envelope_fields(
            id=new_event_id(),
            source="overview-test",
            type="log.record",
            time=utc_now_rfc3339(),
            traceparent="",
            data={"event": text, "level": "error", "service": "overview-test"},
        ),
    )


def test_the_overview_redraws_the_parts_a_change_touches(console: Console) -> None:
    with console.signed_in() as watcher, console.signed_in() as asker:
        page = watcher.get("/")
        assert 'sse-connect="/live/overview"' in page.text
        assert 'id="overview-waiting" sse-swap="waiting"' in page.text
        follower = Follower(watcher)
        try:
            # the stream says when it follows all three upstreams: from then on nothing is missed
            following = wait_until(lambda: follower.of("following"), timeout_s=30, interval_s=0.05)
            assert following == ["Following services, runs, errors."]
            # an error logged anywhere: the errors part is redrawn with it
            marker = f"overview-boom-{time.time_ns()}"
            _log_error(console, marker)
            wait_until(
                lambda: any(marker in d for d in follower.of("errors")),
                timeout_s=30,
                interval_s=0.1,
            )
            # a run waiting for review: the runs parts (and today's usage) are redrawn
            run_id = ask(asker, "Create API documentation for the doc-store service", review=True)
            wait_status(console, run_id, {"waiting_review"})
            wait_until(
                lambda: any(f'href="/runs/{run_id}"' in d for d in follower.of("waiting")),
                timeout_s=30,
                interval_s=0.1,
            )
            assert follower.of("usage"), "a run's change redraws today's usage too"
            assert all(i.startswith("ov-") for i, k, _ in follower.events if k != "following")
            # approved: it leaves the waiting list in the next redraw
            run_page = asker.get(f"/runs/{run_id}")
            asker.post(
                f"/runs/{run_id}/review",
                data={"csrf": csrf_of(run_page.text), "decision": "approve"},
                headers={"Origin": console.url},
            )
            wait_status(console, run_id, {"completed"})
            wait_until(
                lambda: f'href="/runs/{run_id}"' not in follower.of("waiting")[-1],
                timeout_s=30,
                interval_s=0.1,
            )
        finally:
            follower.stop()


def test_a_reconnect_is_sent_every_part_at_once(console: Console) -> None:
    with console.signed_in() as client:
        follower = Follower(client, {"Last-Event-ID": "ov-7"})
        try:
            wanted = {"services", "running", "waiting", "errors", "usage"}
            wait_until(
                lambda: wanted <= {k for _, k, _ in follower.events}, timeout_s=30, interval_s=0.1
            )
            services = follower.of("services")[0]
            assert 'href="/services/orchestrator"' in services
            assert "passing" in services
        finally:
            follower.stop()


def test_the_live_streams_need_a_session(console: Console) -> None:
    with console.client() as anonymous:
        for path in ("/live/overview", "/live/services"):
            assert anonymous.get(path).status_code in (401, 303)


def test_the_services_list_is_redrawn_when_an_instance_comes_and_goes(console: Console) -> None:
    name = f"live-{uuid.uuid4().hex[:8]}"
    instance = f"{name}-1"
    discovery = console.eco.url("discovery")
    register = console.eco.headers("discovery", [f"discovery:register:{name}"], subject=name)
    with console.signed_in() as watcher:
        page = watcher.get("/services")
        assert 'sse-connect="/live/services"' in page.text
        assert 'id="services-list" sse-swap="services"' in page.text
        assert name not in page.text
        follower = Follower(watcher, path="/live/services")
        try:
            following = wait_until(lambda: follower.of("following"), timeout_s=30, interval_s=0.05)
            assert following == ["Following services."]
            body = {"name": name, "instance_id": instance, "base_url": "http://127.0.0.1:9/"}
            made = httpx.post(f"{discovery}/instances", json=body, headers=register, timeout=10)
            assert made.status_code == 201, made.text
            drawn = wait_until(
                lambda: [d for d in follower.of("services") if f"/services/{name}" in d],
                timeout_s=30,
                interval_s=0.1,
            )
            assert f"<code>{instance}</code>" in drawn[-1]
            assert all(i.startswith("sv-") for i, k, _ in follower.events if k != "following")
            gone = httpx.delete(f"{discovery}/instances/{instance}", headers=register, timeout=10)
            assert gone.status_code in (200, 204), gone.text
            wait_until(
                lambda: f"/services/{name}" not in follower.of("services")[-1],
                timeout_s=30,
                interval_s=0.1,
            )
        finally:
            follower.stop()

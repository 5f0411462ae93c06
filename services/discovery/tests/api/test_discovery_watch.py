"""`/watch` against a real discovery server: pinned start, replay, filter and keep-alive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from eco_shared.testing import wait_until
from eco_shared.testing.auth import TestAuth
from eco_shared.testing.servers import ThreadedServer

ADMIN = TestAuth("discovery")  # an admin user's tokens, minted per request


def register(url: str, name: str, instance_id: str) -> None:
    # Its own URL answers the probe, so no health change muddies the feed.
    body = {"name": name, "instance_id": instance_id, "base_url": url}
    assert httpx.post(f"{url}/instances", json=body, auth=ADMIN).status_code == 201


def registered(feed: Any) -> list[str]:
    return [e["data"]["instance_id"] for e in feed.of("service.registered")]


def test_watch_pins_its_start_replays_after_an_id_and_filters_by_service(
    discovery_server: Callable[..., ThreadedServer], watch: Callable[..., Any]
) -> None:
    url = discovery_server(default_ttl_s=15).url
    everything = watch(url, since="0")
    register(url, "alpha", "alpha-1")
    wait_until(lambda: "alpha-1" in registered(everything), timeout_s=5)
    after_alpha = everything.of("service.registered", "alpha-1")[0]["sse_id"]
    register(url, "gamma", "gamma-1")
    wait_until(lambda: "gamma-1" in registered(everything), timeout_s=5)

    late = watch(url)  # pinned to the end of the stream when it connected
    by_query = watch(url, since=after_alpha)
    by_header = watch(url, headers={"Last-Event-ID": after_alpha})
    only_beta = watch(url, service="beta")
    register(url, "beta", "beta-1")
    feeds = (everything, late, by_query, by_header, only_beta)
    wait_until(lambda: all("beta-1" in registered(f) for f in feeds), timeout_s=5)

    assert registered(late) == ["beta-1"]
    for resumed in (by_query, by_header):
        assert "alpha-1" not in registered(resumed)
        assert registered(resumed)[-2:] == ["gamma-1", "beta-1"]
    assert {e["data"]["name"] for e in only_beta.events} == {"beta"}
    assert registered(everything)[-3:] == ["alpha-1", "gamma-1", "beta-1"]

    beta = everything.of("service.registered", "beta-1")[0]
    assert beta["event"] == "service.registered"
    assert set(beta) == {"sse_id", "event", "id", "type", "source", "time", "data"}
    assert beta["source"] == "discovery"
    assert beta["data"]["created"] is True
    # SSE ids are the stream's entry ids, in stream order.
    ids = [tuple(map(int, e["sse_id"].split("-"))) for e in everything.events]
    assert ids == sorted(ids)
    assert by_query.of("service.registered", "beta-1")[0]["sse_id"] == beta["sse_id"]
    # An idle feed is kept alive by comment pings (every 0.5 s here).
    wait_until(lambda: only_beta.pings >= 1, timeout_s=3)

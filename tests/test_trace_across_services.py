"""One request through three real service processes is one trace in the log collector.

Spans reach the collector with each service's own token (its `/v1/traces` needs
`logs:write`), so the services find it the way they do in a deployment: through discovery,
which is also the issuer of their tokens and holds the leases those tokens are bound to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from eco_shared.redis_server import free_port
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth


def _flatten(nodes: list[dict[str, Any]], parent: dict[str, Any] | None = None) -> list[Any]:
    out = []
    for node in nodes:
        out.append((node, parent))
        out += _flatten(node["children"], node)
    return out


def test_a_request_across_three_services_is_one_trace_with_their_logs(
    start_service: Callable[..., ServiceProcess],
    eco_env: dict[str, str],
    database_url: str,
    tmp_path: Path,
) -> None:
    discovery = start_service(
        "eco_discovery.main:create_app",
        env={
            **eco_env,
            "ECO_DISCOVERY_REGISTER_WITH_DISCOVERY": "false",
            "ECO_DISCOVERY_CHECK_INTERVAL_S": "0.5",
        },
        port_env="ECO_DISCOVERY_PORT",
    )
    # spans to the log collector, found through discovery, in batches every 200 ms
    exporting = {"ECO_DISCOVERY_URL": discovery.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    port = free_port()
    collector = ServiceProcess(
        "eco_log_collector.main:create_app",
        env={
            **eco_env,
            **exporting,
            "ECO_LOG_COLLECTOR_DATABASE_URL": database_url,
            "ECO_LOG_COLLECTOR_BLOCK_MS": "100",
        },
        port=port,
        port_env="ECO_LOG_COLLECTOR_PORT",
        ready_path="/health/ready",
        log_dir=tmp_path,
    )
    try:
        collector.start(timeout_s=60)
        _wait_passing(discovery.url, {"log-collector"})
        _check_trace(start_service, eco_env, exporting, collector, discovery.url)
    finally:
        collector.terminate()


def _wait_passing(discovery: str, names: set[str]) -> None:
    """Until discovery lists every one of `names` as passing."""

    def passing() -> bool:
        response = httpx.get(
            f"{discovery}/services", auth=TestAuth("discovery", ("discovery:read",)), timeout=5
        )
        listed = response.json()["services"] if response.status_code == 200 else []
        return names <= {s["name"] for s in listed if s["status"] == "passing"}

    wait_until(passing, timeout_s=60, interval_s=0.2)


def _check_trace(
    start_service: Callable[..., ServiceProcess],
    eco_env: dict[str, str],
    exporting: dict[str, str],
    collector: ServiceProcess,
    discovery: str,
) -> None:
    names = ["svc-a", "svc-b", "svc-c"]
    a, b, c = (
        start_service(
            "eco_shared.testing.example_service:create_app",
            env={**eco_env, **exporting, "ECO_EXAMPLE_SERVICE_NAME": name},
            port_env="ECO_EXAMPLE_PORT",
        )
        for name in names
    )
    # registered: the issuer mints a service a token for the collector only while it
    # holds a lease
    _wait_passing(discovery, set(names))
    reads_logs = TestAuth("log-collector", ("logs:read",))

    reply = httpx.get(f"{a.url}/relay", params=[("to", b.url), ("to", c.url)], timeout=10).json()
    trace_id = reply["trace_id"]
    assert reply["next"]["trace_id"] == trace_id
    assert reply["next"]["next"]["trace_id"] == trace_id

    def complete() -> dict[str, Any] | None:
        response = httpx.get(f"{collector.url}/traces/{trace_id}", auth=reads_logs, timeout=5)
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        relayed = {r["service"] for r in body["logs"] if r["message"] == "relay_called"}
        span_services = {s["service"] for s, _ in _flatten(body["roots"])}
        return body if relayed == set(names) and span_services >= set(names) else None

    body = wait_until(complete, timeout_s=30, interval_s=0.2)
    assert isinstance(body, dict)
    spans = _flatten(body["roots"])
    parent_of = {node["span_id"]: parent for node, parent in spans}
    servers = {
        node["service"]: node
        for node, _ in spans
        if node["kind"] == "server" and node["name"].endswith("/relay")
    }
    assert set(servers) == set(names)
    # the first service's server span starts the trace
    assert parent_of[servers["svc-a"]["span_id"]] is None
    # each next server span hangs under a client span of the service before it
    for caller, callee in (("svc-a", "svc-b"), ("svc-b", "svc-c")):
        client = parent_of[servers[callee]["span_id"]]
        assert client is not None
        assert (client["service"], client["kind"]) == (caller, "client")
        assert servers[callee]["parent_span_id"] == client["span_id"]
        ancestor = client
        while ancestor is not None and ancestor["span_id"] != servers[caller]["span_id"]:
            ancestor = parent_of[ancestor["span_id"]]
        assert ancestor is not None, f"{caller}'s client span is not under its server span"
    # every service's log line sits in the span that wrote it, on the trace's timeline
    span_ids = {node["span_id"]: node["service"] for node, _ in spans}
    for record in body["logs"]:
        if record["message"] == "relay_called":
            assert span_ids[record["span_id"]] == record["service"]
    timeline = [(i["kind"], i["service"]) for i in body["timeline"] if i["kind"] == "log"]
    assert [s for _, s in timeline if s in names][:3] == names
    assert body["services"] == sorted(set(body["services"]))
    assert set(names) <= set(body["services"])

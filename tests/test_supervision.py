"""A service that crashes at start-up every time, under a real detached `eco up`: the
supervisor backs off, gives up after the allowed restarts, says which service and why,
keeps its last output for `eco logs --service`, and the rest keep serving."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from eco_cli.testing import EcoUp

pytestmark = pytest.mark.slow

BROKEN = "log-collector"
LIMIT = 2


@pytest.fixture(scope="module")
def eco(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EcoUp]:
    eco = EcoUp(
        tmp_path_factory.mktemp("crashloop"),
        env={
            # settings that cannot validate: the process exits at every start
            "ECO_LOG_COLLECTOR_LEASE_TTL_S": "-1",
            "ECO_UP_RESTART_LIMIT": str(LIMIT),
            "ECO_UP_RESTART_BACKOFF_INITIAL_S": "0.5",
        },
    )
    try:
        yield eco.start()
    finally:
        eco.down()


@pytest.mark.timeout(400)  # with the module's `eco up` and its crash loop
def test_the_crashing_service_is_given_up_with_its_reason(eco: EcoUp) -> None:
    broken = eco.process(BROKEN)
    assert broken["state"] == "given-up", broken
    assert broken["restarts"] == LIMIT
    assert broken["pid"] is None
    assert broken["last_exit"].startswith("exited with status"), broken
    assert "ValidationError" in broken["last_exit"]
    assert "lease_ttl_s" in broken["last_exit"]
    # the supervisor said so, naming the service, and backed off between the attempts
    log = eco.log()
    assert f"{BROKEN} given up" in log, log[-3000:]
    delays = [float(d) for d in re.findall(rf"{BROKEN} exited .*?restarting in ([\d.]+) s", log)]
    assert len(delays) == LIMIT, log[-3000:]
    assert delays[1] > delays[0], delays  # exponential, even with the jitter (at most 25 %)
    assert f"{BROKEN} was given up" in eco.up_output  # `eco up --detach` says so too


def test_status_and_logs_show_the_given_up_process(eco: EcoUp) -> None:
    status = eco.eco("status", "--json")
    assert status.returncode == 1  # not everything is ready
    report = json.loads(status.stdout)
    assert report["services"][BROKEN]["status"] == "down"
    assert report["processes"][BROKEN]["state"] == "given-up"
    assert report["processes"][BROKEN]["uptime_s"] is None
    assert report["processes"]["redis"]["state"] == "ready"
    for name, process in report["processes"].items():
        if name != BROKEN:
            assert process["state"] == "ready", (name, process)
            assert process["restarts"] == 0, (name, process)
            assert process["uptime_s"] > 0, (name, process)

    table = eco.eco("status")
    assert "given-up" in table.stdout
    assert "eco logs --service log-collector" in table.stderr

    logs = eco.eco("logs", "--service", BROKEN, "--limit", "40")
    assert logs.returncode == 0, logs.stderr
    assert "given-up" in logs.stderr
    assert f"logs/{BROKEN}.log" in logs.stderr
    assert "lease_ttl_s" in logs.stdout
    as_json = json.loads(eco.eco("logs", "--service", BROKEN, "--json").stdout)
    assert as_json["state"] == "given-up"
    assert as_json["lines"]
    # every attempt's output is kept, one header per start
    output = (eco.data_dir / "logs" / f"{BROKEN}.log").read_text()
    assert output.count(f"--- eco up: starting {BROKEN}") == LIMIT + 1


def test_the_rest_keep_serving(eco: EcoUp) -> None:
    for name in eco.state["services"]:
        if name != BROKEN:
            assert eco.ready(name), name
    document = {"title": "Still here", "content": "# Still here", "format": "markdown"}
    created = httpx.post(
        f"{eco.url('doc-store')}/documents", json=document, auth=eco.auth(), timeout=30
    )
    assert created.status_code == 201, created.text
    discovery = httpx.get(f"{eco.url('discovery')}/services", auth=eco.auth(), timeout=10)
    listed = discovery.json()["services"]
    assert {"doc-store", "llm-gateway", "orchestrator"} <= {s["name"] for s in listed}

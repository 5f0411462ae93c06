"""Commands that print ids print their console links, against the whole ecosystem (every
service a real process on a private Redis) with a console instance registered in discovery;
`--json` keeps its shape, plus `console_url` where the answer is the CLI's own object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from eco_shared.redis_server import free_port
from eco_shared.testing import wait_until
from eco_shared.testing.auth import bearer, session_material
from eco_shared.testing.ecosystem import PrivateEcosystem

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ECO = [sys.executable, "-m", "eco_cli.main"]
# registered, nothing listens: discovery keeps the instance (critical), the URL stays
CONSOLE = f"http://127.0.0.1:{free_port()}"
QUERY = "Create API documentation for the doc-store service"


class Cli:
    def __init__(self, eco: PrivateEcosystem, data_dir: Path) -> None:
        key = session_material().admin_key()
        assert key is not None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
        self.env |= {
            "ECO_DISCOVERY_URL": eco.url("discovery"),
            "ECO_API_KEY": key.value,
            "ECO_DATA_DIR": str(data_dir),
            "COLUMNS": "400",  # a table's console column on one line
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*ECO, *args], env=self.env, capture_output=True, text=True, timeout=180
        )

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, f"eco {args}:\n{done.stdout}\n{done.stderr}"
        return done.stdout


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    eco = PrivateEcosystem(tmp_path_factory.mktemp("links-eco")).start()
    try:
        registered = httpx.post(
            f"{eco.url('discovery')}/instances",
            json={"name": "console", "instance_id": "console-links-1", "base_url": CONSOLE},
            headers=bearer("discovery"),
            timeout=10,
        )
        assert registered.status_code in (200, 201), registered.text
        yield Cli(eco, tmp_path_factory.mktemp("links-cli"))
    finally:
        eco.stop()


def test_ask_and_the_commands_after_it_print_each_ids_console_page(cli: Cli) -> None:
    asked = json.loads(cli.ok("ask", QUERY, "--json"))
    run_id, document_id, trace_id = asked["run_id"], asked["document_id"], asked["trace_id"]
    assert asked["status"] == "completed"
    assert asked["console_url"] == f"{CONSOLE}/runs/{run_id}"
    assert "links" not in asked  # the JSON answer gains the one field only

    human = cli.ok("ask", QUERY)
    lines = human.splitlines()
    accepted = next(line for line in lines if line.endswith(" accepted"))
    second_run = accepted.split()[1]
    assert f"console   {CONSOLE}/runs/{second_run}" in lines
    assert any(line.startswith(f"console   {CONSOLE}/documents/") for line in lines)
    assert any(line.startswith(f"console   {CONSOLE}/traces/") for line in lines)

    assert f"{CONSOLE}/runs/{run_id}" in cli.ok("runs")
    assert "console" not in json.loads(cli.ok("runs", "--json"))  # the service's model as is
    assert f"{CONSOLE}/documents/{document_id}" in cli.ok("docs", "list")
    shown = cli.ok("docs", "show", document_id)
    assert f"console  {CONSOLE}/documents/{document_id}" in shown.splitlines()
    shown_json = json.loads(cli.ok("docs", "show", document_id, "--json"))
    assert set(shown_json) == {"document", "content", "console_url"}

    wait_until(lambda: cli("trace", trace_id).returncode == 0, timeout_s=60, interval_s=0.5)
    assert f"console {CONSOLE}/traces/{trace_id}" in cli.ok("trace", trace_id).splitlines()
    explained = cli.ok("explain", document_id).splitlines()
    assert f"console {CONSOLE}/documents/{document_id}" in explained
    assert f"console {CONSOLE}/runs/{run_id}" in explained
    assert f"console {CONSOLE}/traces/{trace_id}" in explained
    logs = cli.ok("logs", "--trace", trace_id, "--limit", "5").splitlines()
    assert logs
    assert all(line.endswith(f"{trace_id} {CONSOLE}/traces/{trace_id}") for line in logs)
    assert "console_url" not in cli.ok("logs", "--trace", trace_id, "--json")

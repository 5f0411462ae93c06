"""The README's first command, run the way a newcomer would, in a fresh copy of the repo.

It installs the workspace, starts the whole ecosystem with no Docker (creating its key
material and printing the admin API key once, with Redis locked to one user per service),
answers an API documentation query through `eco ask` (the CLI authenticating by itself),
shows the document, its provenance and a trace across at least four services, and stops
without leaving a process behind.
"""

import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from eco_shared.auth import parse_key
from eco_shared.testing import wait_until
from eco_shared.testing.processes import port_open, processes_under

ROOT = Path(__file__).resolve().parents[1]
PORTS = (5045, 5055, 5080, 5087, 5099)


def _first_command() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert block is not None, "the README has no bash block"
    first = block.group(1).strip().splitlines()[0]
    return first.split("#")[0].strip()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_first_command_starts_an_ecosystem_that_answers(tmp_path: Path, fresh_repo: Path) -> None:
    if any(port_open(port) for port in PORTS):
        pytest.fail(f"one of the ecosystem's ports {PORTS} is already taken")
    command = _first_command()
    assert command == "make up"
    repo = fresh_repo
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ECO_", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTEST"))
    }
    log_path = tmp_path / "up.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=repo,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail() -> str:
        return log_path.read_text(errors="replace")[-4000:]

    eco = [str(repo / ".venv" / "bin" / "eco")]

    def run_eco(*args: str) -> Any:
        result = subprocess.run(
            [*eco, *args, "--json"], cwd=repo, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"eco {args}: {result.stderr}\n{log_tail()}"
        return json.loads(result.stdout)

    try:
        state_file = repo / ".eco" / "up.json"
        try:
            wait_until(state_file.exists, timeout_s=600, interval_s=1)
        except TimeoutError:
            pytest.fail(f"`{command}` did not come up:\n{log_tail()}")
        state = json.loads(state_file.read_text())
        assert set(state["status"].values()) == {"ready"}, (state, log_tail())

        # The first start made the key material and printed the admin key, once; the CLI
        # calls with it without being told; Redis admits no one without a password.
        auth_dir = repo / ".eco" / "auth"
        assert state["auth"]["mode"] == "on"
        assert state["auth"]["redis_acl"] is True
        assert Path(state["auth"]["dir"]) == auth_dir.resolve()
        assert stat.S_IMODE(auth_dir.stat().st_mode) == 0o700
        admin_key = parse_key((auth_dir / "admin.key").read_text().strip()).value
        assert log_path.read_text(errors="replace").count(admin_key) == 1
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(state["redis_url"], socket_connect_timeout=2).ping()
        me = run_eco("auth", "whoami")
        assert me["subject"] == "user:admin"
        assert me["key_id"] == parse_key(admin_key).key_id
        assert set(state["services"]) >= {
            "discovery",
            "llm-gateway",
            "log-collector",
            "doc-store",
            "orchestrator",
        }

        answer = run_eco("ask", "Create API documentation for the doc-store service")
        assert answer["status"] == "completed", answer
        assert answer["workflow"] == "api_documentation"
        document_id, trace_id = answer["document_id"], answer["trace_id"]

        shown = run_eco("docs", "show", document_id)
        content = shown["content"]
        for path in ("/documents", "/documents/{document_id}/provenance"):
            assert path in content

        provenance = run_eco("docs", "provenance", document_id)
        called = {call["service"] for call in provenance["services_chain"]}
        assert {"discovery", "llm-gateway"} <= called
        assert provenance["trace_id"] == trace_id
        assert provenance["workflow_execution"]["status"] == "completed"

        def trace_services() -> set[str]:
            result = subprocess.run(
                [*eco, "trace", trace_id, "--json"], cwd=repo, env=env, capture_output=True
            )
            if result.returncode != 0:
                return set()
            return set(json.loads(result.stdout)["services"])

        # Spans leave each service in batches, so the trace fills in over a few seconds.
        wait_until(lambda: len(trace_services()) >= 4, timeout_s=60, interval_s=1)
        assert {"orchestrator", "discovery", "llm-gateway", "doc-store"} <= trace_services()

        # The other everyday commands, as a script would use them.
        services = {row["name"]: row for row in run_eco("services")}
        assert {name for name, row in services.items() if row["status"] == "passing"} >= {
            "discovery",
            "llm-gateway",
            "log-collector",
            "doc-store",
            "orchestrator",
        }
        runs = run_eco("runs")
        assert answer["run_id"] in [r["run_id"] for r in runs["items"]]
        listed = run_eco("docs", "list")
        assert document_id in [d["id"] for d in listed["items"]]
        saved = repo / "doc.md"
        sh_eco = subprocess.run(
            [*eco, "docs", "download", document_id, "--out", str(saved)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sh_eco.returncode == 0, sh_eco.stderr
        assert saved.read_text() == content
        logs = run_eco("logs", "--service", "orchestrator", "--limit", "20")
        assert logs["items"]
        assert {r["service"] for r in logs["items"]} == {"orchestrator"}
        explained = run_eco("explain", document_id)
        assert explained["provenance"]["trace_id"] == trace_id
        assert len(explained["trace"]["services"]) >= 4
        missing = subprocess.run(
            [*eco, "docs", "show", "no-such-document"], cwd=repo, env=env, capture_output=True
        )
        assert missing.returncode == 1
        assert b"no-such-document" in missing.stderr
    finally:
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    deadline = time.monotonic() + 20
    while processes_under(repo) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_under(repo) == [], "processes left behind"
    assert not any(port_open(port) for port in PORTS)
    assert not (repo / ".eco" / "up.json").exists()
    # With the ecosystem gone, commands say so and exit 3.
    down = subprocess.run([*eco, "services"], cwd=repo, env=env, capture_output=True, text=True)
    assert down.returncode == 3
    assert "not running" in down.stderr

"""`eco up` as a real process: Redis and every installed service start and become ready,
discovery lists them healthy, and Ctrl-C or `eco down` stops all of it."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import redis

from eco_shared.redis_server import free_port
from eco_shared.services import installed_services
from eco_shared.testing import wait_until
from eco_shared.testing.processes import port_open


def _env(data_dir: Path) -> dict[str, str]:
    """No ECO_ settings from outside; every service on a free port, so no running eco clashes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
    env["ECO_DATA_DIR"] = str(data_dir)
    for spec in installed_services():
        env[spec.port_env] = str(free_port())
    return env


def _assert_all_ready(state: dict[str, Any]) -> None:
    """Every service `eco up` started reported ready and answers `/health/ready` with 200."""
    names = {spec.name for spec in installed_services()}
    assert set(state["services"]) == names, state
    assert state["status"] == dict.fromkeys(names, "ready"), state
    for name, url in state["services"].items():
        assert url.startswith("http://127.0.0.1:")
        ready = httpx.get(f"{url}/health/ready", timeout=5)
        assert ready.status_code == 200, (name, ready.text)
        assert ready.json()["status"] == "ready", (name, ready.json())


def _assert_all_gone(state: dict[str, Any]) -> None:
    """Nothing `eco up` started still listens: no service and no private Redis."""
    for name, url in state["services"].items():
        port = int(url.rsplit(":", 1)[1])
        assert not port_open(port), f"{name} still listens on {port}"
    gone = redis.Redis.from_url(state["redis_url"], socket_connect_timeout=0.5)
    try:
        gone.ping()
        raise AssertionError("redis still running after eco up stopped")
    except redis.ConnectionError:
        pass


def test_eco_up_starts_private_redis_and_stops_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "eco_cli.main", "up", "--ready-timeout", "30"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        state_file = tmp_path / "up.json"
        wait_until(state_file.exists, timeout_s=40)
        state = json.loads(state_file.read_text())
        client = redis.Redis.from_url(state["redis_url"])
        assert client.ping()
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.close()
        _assert_all_ready(state)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()
    assert b"stopped" in out
    assert not (tmp_path / "up.json").exists()
    # The private Redis and every service are gone with it.
    _assert_all_gone(state)


def test_detach_status_down(tmp_path: Path) -> None:
    env = _env(tmp_path)
    eco = [sys.executable, "-m", "eco_cli.main"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*eco, *args], env=env, capture_output=True, text=True, timeout=120)

    assert run("status").returncode == 1  # nothing running yet
    started = run("up", "--detach", "--ready-timeout", "60")
    assert started.returncode == 0, started.stdout + started.stderr
    state = json.loads((tmp_path / "up.json").read_text())
    try:
        _assert_all_ready(state)
        status = run("status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        report = json.loads(status.stdout)
        assert report["redis_url"] == state["redis_url"]
        assert set(report["services"]) == set(state["services"])
        assert report["services"] == {
            name: {"url": url, "status": "ready"} for name, url in state["services"].items()
        }

        def listed_healthy() -> dict[str, Any] | None:
            # Registration runs beside start-up, so discovery may list a service a moment
            # after it is ready.
            listed = run("services", "--json")
            assert listed.returncode == 0, listed.stdout + listed.stderr
            rows = {row["name"]: row for row in json.loads(listed.stdout)}
            healthy = set(rows) >= set(state["services"]) and all(
                rows[name]["status"] == "passing" for name in state["services"]
            )
            return rows if healthy else None

        rows: Any = wait_until(listed_healthy, timeout_s=30, interval_s=1)
        for name, url in state["services"].items():
            assert rows[name]["urls"] == [url], rows[name]
        again = run("up", "--detach")
        assert again.returncode == 1
        assert "already up" in again.stderr
    finally:
        stopped = run("down")
    assert stopped.returncode == 0, stopped.stderr
    assert not (tmp_path / "up.json").exists()
    assert run("down").returncode == 1
    supervisor_pid = state["pid"]
    try:
        os.kill(supervisor_pid, 0)
        raise AssertionError("the background supervisor is still alive")
    except ProcessLookupError:
        pass
    _assert_all_gone(state)
    assert run("status").returncode == 1

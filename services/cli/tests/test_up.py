"""`eco up` as a real process: Redis and every installed service start, Ctrl-C stops all."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import redis

from eco_shared.testing import wait_until


def test_eco_up_starts_private_redis_and_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
    env["ECO_DATA_DIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "eco_cli.main", "up", "--ready-timeout", "30"],
        env=env,
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
        for url in state["services"].values():
            assert url.startswith("http://127.0.0.1:")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()
    assert b"stopped" in out
    assert not (tmp_path / "up.json").exists()
    # The private Redis is gone with it.
    gone = redis.Redis.from_url(state["redis_url"], socket_connect_timeout=0.5)
    try:
        gone.ping()
        raise AssertionError("redis still running after eco up stopped")
    except redis.ConnectionError:
        pass


def test_detach_status_down(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
    env["ECO_DATA_DIR"] = str(tmp_path)
    eco = [sys.executable, "-m", "eco_cli.main"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*eco, *args], env=env, capture_output=True, text=True, timeout=120)

    assert run("status").returncode == 1  # nothing running yet
    started = run("up", "--detach", "--ready-timeout", "60")
    assert started.returncode == 0, started.stdout + started.stderr
    state = json.loads((tmp_path / "up.json").read_text())
    try:
        status = run("status", "--json")
        report = json.loads(status.stdout)
        assert report["redis_url"] == state["redis_url"]
        assert set(report["services"]) == set(state["services"])
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

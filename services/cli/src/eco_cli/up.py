"""`eco up` from the outside: its state file, running it in the background, stopping it.

The supervisor itself is `eco_cli.supervisor` (not imported here: `eco up --detach` only
starts it in a child), the processes it runs `eco_cli.processes`, and its state file
`eco_cli.state`.
Services come from the `eco.services` entry points (`eco_shared.services`), so a new
service package is started without touching this file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from eco_cli.state import STATE_FILE, process_output, read_state

__all__ = [
    "STATE_FILE",
    "process_output",
    "read_state",
    "service_health",
    "start_detached",
    "stop_detached",
]


def start_detached(data_dir: Path, args: list[str], timeout_s: float) -> dict[str, Any]:
    """Run `eco up` in the background (its output in `.eco/up.log`) until it is up."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "up.log", "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(
        [sys.executable, "-m", "eco_cli.main", "up", "--data-dir", str(data_dir), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = read_state(data_dir)
        if state is not None and state.get("pid") == process.pid:
            return state
        if process.poll() is not None:
            tail = (data_dir / "up.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"eco up exited with {process.returncode}:\n{tail}")
        time.sleep(0.2)
    process.terminate()
    raise TimeoutError(f"eco up did not come up within {timeout_s}s")


def stop_detached(data_dir: Path, timeout_s: float = 30.0) -> bool:
    """Stop a background `eco up`; False when none was running."""
    state = read_state(data_dir)
    if state is None:
        return False
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    return True


def service_health(state: dict[str, Any]) -> dict[str, str]:
    """Readiness of every service a running `eco up` started."""
    result = {}
    with httpx.Client(timeout=2.0) as client:
        for name, url in state.get("services", {}).items():
            try:
                response = client.get(f"{url}/health/ready")
                result[name] = "ready" if response.status_code == 200 else "not ready"
            except httpx.HTTPError:
                result[name] = "down"
    return result

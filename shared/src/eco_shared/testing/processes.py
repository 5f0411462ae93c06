"""Start a service as a real uvicorn process on a free port and wait until it is ready.

The process verifies tokens against the test session's key material (`ECO_AUTH_DIR`,
unless the test's `env` names other material), like every service a test builds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from eco_shared.redis_server import free_port
from eco_shared.testing.auth import AUTH_DIR_ENV, session_material


def wait_until(
    predicate: Callable[[], object], timeout_s: float = 10.0, interval_s: float = 0.05
) -> object:
    """Poll `predicate` until it returns something truthy; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s}s")
        time.sleep(interval_s)


class ServiceProcess:
    """One `uvicorn --factory <app>` child process with its output kept in a log file."""

    def __init__(
        self,
        app: str,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        ready_path: str = "/health",
        log_dir: Path | None = None,
        port_env: str | None = None,
    ) -> None:
        self.app = app
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        if port_env:
            # The service's own port setting, so the URL it advertises is the one it serves.
            self.extra_env[port_env] = str(self.port)
        self.ready_path = ready_path
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="eco-svc-"))
        self.log_path = self.log_dir / f"{app.split(':')[0]}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0) -> ServiceProcess:
        env = {**os.environ, **self.extra_env}
        env.setdefault(AUTH_DIR_ENV, str(session_material().directory))
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "5",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=1.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.app} exited at start:\n{self.log_tail()}")
                try:
                    if client.get(self.url + self.ready_path).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise TimeoutError(f"{self.app} not ready in {timeout_s}s:\n{self.log_tail()}")
                time.sleep(0.05)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def terminate(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM (graceful shutdown), then SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on `host:port`."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def processes_under(path: Path) -> list[str]:
    """Processes whose command line mentions `path` (what a test left running there)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found

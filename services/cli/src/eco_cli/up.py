"""`eco up`: a private Redis plus every installed service as a process, supervised.

Services come from the `eco.services` entry points (`eco_shared.services`), so a new
service package is started without touching this file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from eco_shared.redis_server import RedisServer
from eco_shared.services import ServiceSpec, installed_services

COLOURS = ["cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan"]
STATE_FILE = "up.json"


@dataclass
class Running:
    spec: ServiceSpec
    port: int
    process: subprocess.Popen[bytes]
    colour: str
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=30))
    status: str = "starting"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _format_line(raw: str) -> str:
    """Render a JSON log record as `level event key=value ...`; other lines as they are."""
    try:
        record = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(record, dict):
        return raw
    level = str(record.pop("level", "info"))
    event = str(record.pop("event", ""))
    for noise in ("service", "timestamp", "logger", "span_id"):
        record.pop(noise, None)
    if record.get("trace_id") is None:
        record.pop("trace_id", None)
    extras = " ".join(f"{k}={v}" for k, v in record.items() if v is not None)
    return f"{level:<7} {event} {extras}".rstrip()


class Supervisor:
    """Starts, watches and stops the ecosystem's processes."""

    def __init__(
        self,
        data_dir: Path,
        redis_url: str | None = None,
        redis_port: int = 0,
        services: list[ServiceSpec] | None = None,
        console: Console | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.redis_url = redis_url
        self.redis_port = redis_port
        self.services = installed_services() if services is None else services
        self.console = console or Console(highlight=False)
        self.redis: RedisServer | None = None
        self.running: list[Running] = []
        self._stopping = False

    def _port_for(self, spec: ServiceSpec) -> int:
        return int(os.environ.get(spec.port_env) or spec.port)

    def _service_env(self, spec: ServiceSpec, port: int, discovery_url: str) -> dict[str, str]:
        assert self.redis_url is not None
        return {
            **os.environ,
            "ECO_REDIS_URL": self.redis_url,
            "ECO_DISCOVERY_URL": discovery_url,
            "ECO_DATA_DIR": str(self.data_dir),
            "ECO_LOG_FORMAT": "json",
            spec.port_env: str(port),
            "PYTHONUNBUFFERED": "1",
        }

    def _pump(self, run: Running) -> None:
        assert run.process.stdout is not None
        prefix = Text(f"{run.spec.name:>14} | ", style=run.colour)
        for raw in iter(run.process.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip()
            run.tail.append(line)
            self.console.print(prefix + Text(_format_line(line)), soft_wrap=True)

    def start_redis(self) -> None:
        if self.redis_url:
            self.console.print(f"[bold]redis[/] using {self.redis_url}")
            return
        self.redis = RedisServer(self.data_dir / "redis", port=self.redis_port or None).start()
        self.redis_url = self.redis.url
        self.console.print(
            f"[bold]redis[/] started {self.redis_url} (AOF in {self.redis.data_dir})"
        )

    def start_services(self) -> None:
        discovery = next((s for s in self.services if s.name == "discovery"), None)
        discovery_url = os.environ.get("ECO_DISCOVERY_URL") or (
            f"http://127.0.0.1:{self._port_for(discovery)}"
            if discovery
            else "http://127.0.0.1:5045"
        )
        for index, spec in enumerate(self.services):
            port = self._port_for(spec)
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    spec.app,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--timeout-graceful-shutdown",
                    "5",
                ],
                env=self._service_env(spec, port, discovery_url),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
            )
            run = Running(spec, port, process, COLOURS[index % len(COLOURS)])
            self.running.append(run)
            threading.Thread(target=self._pump, args=(run,), daemon=True).start()

    def wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                for run in self.running:
                    if run.status in ("ready", "failed"):
                        continue
                    if run.process.poll() is not None:
                        run.status = "failed"
                        continue
                    try:
                        if client.get(f"{run.url}/health/ready").status_code == 200:
                            run.status = "ready"
                    except httpx.HTTPError:
                        pass
                if all(r.status in ("ready", "failed") for r in self.running):
                    break
                time.sleep(0.2)
        for run in self.running:
            if run.status == "starting":
                run.status = "not ready"
        return all(r.status == "ready" for r in self.running)

    def status_table(self) -> Table:
        table = Table(title="LLM Documentation Ecosystem")
        table.add_column("service")
        table.add_column("url")
        table.add_column("status")
        table.add_row("redis", self.redis_url or "", "ready")
        for run in self.running:
            style = {"ready": "green", "failed": "red"}.get(run.status, "yellow")
            table.add_row(run.spec.name, run.url, f"[{style}]{run.status}[/]")
        return table

    def write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "redis_url": self.redis_url,
            "services": {r.spec.name: r.url for r in self.running},
            "status": {r.spec.name: r.status for r in self.running},
        }
        (self.data_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._stopping:
            return
        self._stopping = True
        # Reverse start order: discovery goes last so the others can deregister.
        for run in reversed(self.running):
            if run.process.poll() is None:
                run.process.terminate()
        deadline = time.monotonic() + timeout_s
        for run in reversed(self.running):
            remaining = max(0.1, deadline - time.monotonic())
            try:
                run.process.wait(remaining)
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait()
        if self.redis is not None:
            self.redis.stop()
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        self.console.print("[bold]stopped[/]")

    def run(self, ready_timeout: float = 60.0) -> int:
        """Start everything, report, supervise until Ctrl-C or SIGTERM; return the exit code."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

        interrupted = False

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            # Only the first Ctrl-C or SIGTERM starts the stop; repeats (uv forwards the
            # terminal's signal once more) are ignored.
            nonlocal interrupted
            if not interrupted:
                interrupted = True
                raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            self.start_redis()
            self.start_services()
            if not self.running:
                self.console.print("no services are installed yet: only Redis is running")
            self.wait_ready(ready_timeout)
            self.write_state()
            self.console.print(self.status_table())
            for run in self.running:
                if run.status != "ready":
                    self.console.print(f"[red]{run.spec.name} did not become ready; last lines:[/]")
                    for line in list(run.tail)[-10:]:
                        self.console.print(f"    {line}")
            self.console.print("[bold green]eco is up[/]; Ctrl-C stops it")
            while True:
                time.sleep(0.5)
                for run in self.running:
                    if run.status == "ready" and run.process.poll() is not None:
                        run.status = "failed"
                        self.console.print(
                            f"[red]{run.spec.name} exited with {run.process.returncode}[/]"
                        )
        except KeyboardInterrupt:
            self.console.print("stopping...")
            return 0
        finally:
            self.stop()


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """What a running `eco up` wrote about itself, or None when none is running."""
    path = data_dir.resolve() / STATE_FILE
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(int(state["pid"]), 0)
    except (ProcessLookupError, KeyError, ValueError):
        path.unlink(missing_ok=True)  # left by a supervisor that was killed
        return None
    except PermissionError:
        pass
    return state


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

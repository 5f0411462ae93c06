"""The supervisor behind `eco up`: start in order, watch, restart with backoff, give up, stop.

Start order, for the first start and every restart alike: the private Redis, then
discovery, then the rest together (and a spec's `depends_on`). A process waits until
those before it are ready, have given up, or have had the ready timeout to get there.
A crash (any exit but one we asked for; under `on-failure` an exit with status 0 is not
one) is restarted after an exponential backoff with jitter; more than `limit` crashes
within `window_s` and the process is given up, with the reason and its last output. The
state of every process is written to `.eco/up.json` at each change, for `eco status`.

Before anything starts, the key material in `.eco/auth/` is made sure of (`local_auth`);
a private Redis gets an ACL file with one user per service (`acl`), and every service its
own `ECO_REDIS_URL` with that user, its client secret (`ECO_AUTH_CLIENT_SECRET`) and the
material's directory (`ECO_AUTH_DIR`: discovery, the issuer, signs with it; the rest read
the public `jwks.json`).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from eco_cli import acl
from eco_cli.local_auth import AUTH_OFF_WARNING, prepare, settings_for
from eco_cli.processes import (
    Child,
    RedisChild,
    RestartPolicy,
    ServiceChild,
    exit_reason,
    format_line,
    last_error,
)
from eco_cli.specs import installed_specs
from eco_cli.state import STATE_FILE
from eco_shared.redis_server import free_port
from eco_shared.services import ServiceSpec

COLOURS = ["cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan"]
SETTLED = ("ready", "given-up", "stopped")
# while starting, how often to look: the rest wait for discovery to be ready, a probe is cheap
STARTING_POLL_S = 0.1
_STYLES = {"ready": "green", "given-up": "red", "stopped": "dim", "backing-off": "yellow"}


class Supervisor:
    """Starts, watches, restarts and stops the ecosystem's processes."""

    def __init__(
        self,
        data_dir: Path,
        redis_url: str | None = None,
        redis_port: int = 0,
        services: list[ServiceSpec] | None = None,
        console: Console | None = None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.redis_url = redis_url
        self.redis_port = redis_port
        self.services = installed_specs() if services is None else services
        # soft_wrap: a message stays one line in `up.log`, where the width is a guess
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.policy = policy or RestartPolicy()
        self.children: list[Child] = []
        self.ready_timeout = 60.0
        self.settings = settings_for(self.data_dir)
        self.auth_dir: Path | None = None
        self.redis_acl = False
        self._colours: dict[str, str] = {}
        self._print_lock = threading.Lock()
        self._stopping = False
        self._interrupted = False

    @property
    def service_children(self) -> list[ServiceChild]:
        return [c for c in self.children if isinstance(c, ServiceChild)]

    def build(self) -> None:
        """The children, in start order; nothing is started yet."""
        material = prepare(self.data_dir).material
        master = material.master()
        self.auth_dir = material.directory
        # each service's own Redis URL: its ACL user on the private Redis, else the given one
        redis_urls: dict[str, str] = {}
        if not self.redis_url:
            aclfile = acl.write_acl(
                material.redis_acl_path,
                master,
                [spec.name for spec in self.services],
                self.settings.redis_prefix,
            )
            admin = (acl.ADMIN_USER, acl.password(master, acl.ADMIN_USER))
            redis = RedisChild(
                self.data_dir / "redis",
                self.redis_port or free_port(),
                aclfile=aclfile,
                auth=admin,
            )
            self.redis_url = redis.url  # without credentials: it is shown and written down
            self.redis_acl = True
            self.children.append(redis)
            redis_urls = {
                spec.name: acl.with_credentials(
                    redis.url, spec.name, acl.password(master, spec.name)
                )
                for spec in self.services
            }

        discovery = next((s for s in self.services if s.name == "discovery"), None)
        discovery_url = os.environ.get("ECO_DISCOVERY_URL") or (
            f"http://127.0.0.1:{self._port_for(discovery)}"
            if discovery
            else "http://127.0.0.1:5045"
        )
        for index, spec in enumerate(self.services):
            port = self._port_for(spec)
            self._colours[spec.name] = COLOURS[index % len(COLOURS)]
            env = {
                **os.environ,
                "ECO_REDIS_URL": redis_urls.get(spec.name, str(self.redis_url)),
                "ECO_DISCOVERY_URL": discovery_url,
                "ECO_DATA_DIR": str(self.data_dir),
                "ECO_AUTH_DIR": str(material.directory),
                "ECO_AUTH_CLIENT_SECRET": material.client_secret(spec.name) or "",
                "ECO_LOG_FORMAT": "json",
                spec.port_env: str(port),
                "PYTHONUNBUFFERED": "1",
            }
            self.children.append(
                ServiceChild(spec, port, env, self.data_dir / "logs", echo=self._echo)
            )
        self.children.sort(key=lambda c: c.rank)

    def _port_for(self, spec: ServiceSpec) -> int:
        return int(os.environ.get(spec.port_env) or spec.port)

    def _say(self, message: str) -> None:
        with self._print_lock:
            self.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}")

    def _echo(self, child: ServiceChild, line: str) -> None:
        prefix = Text(f"{child.name:>14} | ", style=self._colours.get(child.name, "white"))
        with self._print_lock:
            self.console.print(prefix + Text(format_line(line)), soft_wrap=True)

    def _deps_met(self, child: Child, now: float) -> bool:
        for other in self.children:
            if other is child or not (other.rank < child.rank or other.name in child.depends_on):
                continue
            if other.state in SETTLED:
                continue  # ready; or given up or stopped, and waiting would be forever
            if other.process is not None and now - other.spawned_at > self.ready_timeout:
                continue
            return False
        return True

    def step(self, client: httpx.Client) -> bool:
        """One round: start what is due, notice exits and readiness; True when anything changed."""
        changed = False
        for child in self.children:
            if self._interrupted:
                break
            now = time.monotonic()
            if child.process is None:
                due = child.state in ("starting", "backing-off") and now >= child.next_start
                if due and self._deps_met(child, now):
                    self._spawn(child, now)
                    changed = True
                continue
            returncode = child.poll()
            if returncode is not None:
                self._exited(child, returncode)
                changed = True
            elif child.state != "ready" and child.probe(client):
                self._ready(child)
                changed = True
        return changed

    def _spawn(self, child: Child, now: float) -> None:
        if child.state == "backing-off":
            child.restarts += 1
            child.state = "restarting"
            self._say(f"[bold]{child.name}[/] restarting (restart {child.restarts})")
        child.spawned_at = now
        child.started_at = time.time()
        child.ready_at = None
        try:
            child.spawn()
        except (OSError, RuntimeError, TimeoutError) as exc:
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if child.process is not None and child.process.poll() is None:
                child.process.kill()
                child.process.wait()
            returncode = child.poll()
            self._exited(child, returncode if returncode else 1, why=why)

    def _exited(self, child: Child, returncode: int, why: str | None = None) -> None:
        now = time.monotonic()
        lines = child.finish_output()
        why = why or last_error(lines)
        child.last_exit = exit_reason(returncode) + (f": {why}" if why else "")
        reason = escape(child.last_exit)
        child.process = None
        child.started_at = None
        if self._stopping:
            child.state = "stopped"
            return
        if child.ready_at is not None and now - child.ready_at >= self.policy.stable_s:
            child.consecutive = 0
        child.crashes.append(now)
        while child.crashes and now - child.crashes[0] > self.policy.window_s:
            child.crashes.popleft()
        policy = self.policy
        if not policy.restarts(returncode):
            child.state = "stopped"
            self._say(f"[yellow]{child.name} {reason}; not restarted (mode {policy.mode})[/]")
        elif len(child.crashes) > policy.limit:
            child.state = "given-up"
            self._say(
                f"[bold red]{child.name} given up: {len(child.crashes)} crashes within "
                f"{policy.window_s:g} s after {child.restarts} restarts; last: {reason}[/]"
            )
            for line in lines[-10:]:
                self._say(f"    {escape(format_line(line))}")
            self._say(
                f"    its output: {child.log_path} (`eco logs --service {child.name}`); "
                "the other services keep running"
            )
        else:
            child.consecutive += 1
            delay = policy.delay(child.consecutive)
            child.next_start = now + delay
            child.state = "backing-off"
            self._say(f"[red]{child.name} {reason}[/]; restarting in {delay:.1f} s")

    def _ready(self, child: Child) -> None:
        child.ready_at = time.monotonic()
        child.start_s = child.ready_at - child.spawned_at
        if child.state == "restarting":
            self._say(f"[green]{child.name} ready again[/] after {child.start_s:.1f} s")
        elif isinstance(child, RedisChild):
            self._say(f"[bold]redis[/] started {child.url} (AOF in {child.data_dir})")
        child.state = "ready"

    def snapshot(self) -> dict[str, Any]:
        """What `eco status` reads: where everything listens and how each process fares."""
        now = time.monotonic()
        processes = {
            c.name: {
                "state": c.state,
                "url": c.url,
                "pid": c.pid,
                "restarts": c.restarts,
                "started_at": c.started_at,
                "start_s": None if c.start_s is None else round(c.start_s, 3),
                "next_start_in_s": round(max(0.0, c.next_start - now), 3)
                if c.state == "backing-off"
                else None,
                "last_exit": c.last_exit,
                "log": str(c.log_path),
            }
            for c in self.children
        }
        return {
            "pid": os.getpid(),
            "redis_url": self.redis_url,
            "services": {c.name: c.url for c in self.service_children},
            "status": {c.name: c.state for c in self.service_children},
            "processes": processes,
            "policy": self.policy.model_dump(),
            "auth": {
                "mode": self.settings.auth,
                "dir": str(self.auth_dir) if self.auth_dir else None,
                "redis_acl": self.redis_acl,
            },
        }

    def write_state(self) -> None:
        path = self.data_dir / STATE_FILE
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.snapshot(), indent=2))
        os.replace(partial, path)  # readers never see half a file

    def status_table(self) -> Table:
        table = Table(title="LLM Documentation Ecosystem")
        for column in ("process", "url", "state", "restarts"):
            table.add_column(column)
        for child in self.children:
            style = _STYLES.get(child.state, "yellow")
            table.add_row(child.name, child.url, f"[{style}]{child.state}[/]", str(child.restarts))
        return table

    def _report_start(self) -> None:
        self.write_state()
        self._say_table()
        for child in self.children:
            if child.state not in SETTLED:
                self._say(f"[red]{child.name} did not become ready; last lines:[/]")
                for line in list(child.tail)[-10:]:
                    self._say(f"    {escape(format_line(line))}")
        console = next((c for c in self.children if c.name == "console"), None)
        if console is not None and console.state == "ready":
            self._say(f"the console: [bold]{console.url}[/] (sign in with your API key)")
        self._say("[bold green]eco is up[/]; Ctrl-C stops it")

    def _say_table(self) -> None:
        with self._print_lock:
            self.console.print(self.status_table())

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every process, services in reverse start order (discovery last), then Redis."""
        if self._stopping:
            return
        self._stopping = True
        services = list(reversed(self.service_children))
        for child in services:
            child.terminate()
        deadline = time.monotonic() + timeout_s
        for child in services:
            child.wait(max(0.1, deadline - time.monotonic()))
        for redis in self.children:
            if isinstance(redis, RedisChild):
                redis.terminate()
                redis.wait(timeout_s)
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)
        self._say("[bold]stopped[/]")

    def run(self, ready_timeout: float = 60.0) -> int:
        """Start everything, report, supervise until Ctrl-C or SIGTERM; return the exit code."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.ready_timeout = ready_timeout

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            # A flag, not an exception: a signal in the middle of starting a child must
            # not leave that child unrecorded (and so running after we stop).
            self._interrupted = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            if self.settings.auth == "off":
                self._say(f"[bold yellow]{AUTH_OFF_WARNING}[/]")
            self.build()
            if not self.children or not isinstance(self.children[0], RedisChild):
                self._say(f"[bold]redis[/] using {self.redis_url}")
            if not self.services:
                self._say("no services are installed yet: only Redis is running")
            started = time.monotonic()
            with httpx.Client(timeout=1.0) as client:
                while not self._interrupted:
                    self.step(client)
                    settled = all(c.state in SETTLED for c in self.children)
                    if settled or time.monotonic() - started > ready_timeout:
                        break
                    time.sleep(STARTING_POLL_S)
                if not self._interrupted:
                    self._report_start()
                while not self._interrupted:
                    if self.step(client):
                        self.write_state()
                    time.sleep(0.25)
            self._say("stopping...")
            return 0
        except KeyboardInterrupt:
            self._say("stopping...")
            return 0
        finally:
            self.stop()

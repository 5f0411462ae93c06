"""A detached `eco up` on free ports, for fault tests and `bench/recovery.py`.

It runs the real CLI in a subprocess and reads what the real supervisor writes to
`up.json`; killing a process is a real SIGKILL of its real pid. The ecosystem has key
material of its own (`<data_dir>/auth`, made by its first `eco up`): `eco()` calls with
its admin key, and `auth()` / `headers()` sign tokens with its signing key, as the issuer
would, so a test's HTTP calls need no issuer round trip while discovery is being killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx

from eco_cli import acl
from eco_cli.state import read_state
from eco_shared.auth import ADMIN, AuthMaterial, mint, user_subject
from eco_shared.redis_server import free_port
from eco_shared.services import ENTRY_POINT_GROUP
from eco_shared.testing.processes import port_open, wait_until

ECO = [sys.executable, "-m", "eco_cli.main"]


class MaterialAuth(httpx.Auth):
    """A fresh token per request, signed with one ecosystem's key, for the service the URL
    points at (or for `audience`)."""

    def __init__(
        self,
        material: AuthMaterial,
        services: Mapping[str, str],
        audience: str | None = None,
        scopes: tuple[str, ...] = (ADMIN,),
        subject: str = user_subject("test"),
    ) -> None:
        self.material = material
        self.services = services  # name -> base URL
        self.audience = audience
        self.scopes = scopes
        self.subject = subject

    def audience_for(self, url: httpx.URL) -> str:
        if self.audience is not None:
            return self.audience
        for name, base in self.services.items():
            if str(url).startswith(base):
                return name
        raise ValueError(f"{url} is none of this ecosystem's services")

    def token(self, audience: str) -> str:
        key = self.material.signing_keys().current
        return mint(key, subject=self.subject, audience=audience, scopes=set(self.scopes))

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token(self.audience_for(request.url))}"
        yield request


class EcoUp:
    """`eco up --detach` in `data_dir`, every service on a free port, no outside ECO_ settings."""

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ECO_")}
        self.env["ECO_DATA_DIR"] = str(data_dir)
        # Names, not specs: loading a spec imports its whole service (slow on a busy machine),
        # and DESIGN.md fixes every service's settings prefix as ECO_<SERVICE>_.
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            self.env[f"ECO_{entry.name.upper().replace('-', '_')}_PORT"] = str(free_port())
        self.env.update(env or {})
        self.state: dict[str, Any] = {}
        self.up_output = ""

    def eco(
        self, *args: str, timeout_s: float = 180, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `eco ARGS` against this ecosystem (`env` on top of its own)."""
        return subprocess.run(
            [*ECO, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )

    def start(self, ready_timeout_s: float = 120) -> EcoUp:
        started = self.eco("up", "--detach", "--ready-timeout", str(ready_timeout_s))
        self.up_output = started.stdout + started.stderr
        if started.returncode != 0:
            raise RuntimeError(f"eco up failed:\n{self.up_output}\n{self.log()[-4000:]}")
        self.state = self.read()
        return self

    def read(self) -> dict[str, Any]:
        state = read_state(self.data_dir)
        if state is None:
            raise RuntimeError(f"eco up is not running:\n{self.log()[-4000:]}")
        return state

    def log(self) -> str:
        """The supervisor's own output (`up.log`)."""
        try:
            return (self.data_dir / "up.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def material(self) -> AuthMaterial:
        """This ecosystem's key material (what its first `eco up` made)."""
        return AuthMaterial(Path(self.state.get("auth", {}).get("dir") or self.data_dir / "auth"))

    def admin_key(self) -> str:
        """The admin API key its first `eco up` printed."""
        key = self.material.admin_key()
        assert key is not None, f"no admin key in {self.material.directory}"
        return key.value

    def auth(
        self,
        audience: str | None = None,
        scopes: tuple[str, ...] = (ADMIN,),
        subject: str = user_subject("test"),
    ) -> MaterialAuth:
        """httpx auth for calls to its services (the audience from the URL unless given)."""
        return MaterialAuth(self.material, self.state["services"], audience, scopes, subject)

    def headers(self, audience: str, scopes: tuple[str, ...] = (ADMIN,)) -> dict[str, str]:
        """An Authorization header for one call to `audience`."""
        token = self.auth(audience, scopes).token(audience)
        return {"Authorization": f"Bearer {token}"}

    def redis_url(self, user: str = acl.ADMIN_USER) -> str:
        """The private Redis's URL for one of its ACL users (default: eco's admin user)."""
        master = self.material.master()
        return acl.with_credentials(self.state["redis_url"], user, acl.password(master, user))

    def process(self, name: str) -> dict[str, Any]:
        return dict(self.read()["processes"][name])

    def url(self, name: str) -> str:
        return str(self.state["services"][name])

    def kill(self, name: str) -> dict[str, Any]:
        """SIGKILL process `name`; what the supervisor said of it just before."""
        before = self.process(name)
        os.kill(int(before["pid"]), signal.SIGKILL)
        return before

    def wait_restarted(self, name: str, before: dict[str, Any], timeout_s: float = 120) -> Any:
        """Wait until `name` runs again under a new pid and is ready; its new record."""

        def again() -> dict[str, Any] | None:
            now = self.process(name)
            fresh = now["pid"] not in (None, before["pid"]) and now["restarts"] > before["restarts"]
            return now if fresh and now["state"] == "ready" else None

        try:
            return wait_until(again, timeout_s=timeout_s, interval_s=0.05)
        except TimeoutError:
            tail = self.log()[-3000:]
            raise AssertionError(f"{name} not back: {self.process(name)}\n{tail}") from None

    def ready(self, name: str) -> bool:
        try:
            return httpx.get(f"{self.url(name)}/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def all_ready(self) -> bool:
        return all(self.ready(name) for name in self.state["services"])

    def down(self) -> None:
        """`eco down`, then check that nothing it started is left listening."""
        stopped = self.eco("down", timeout_s=60)
        if not self.state:
            return
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        for name, url in self.state["services"].items():
            port = int(url.rsplit(":", 1)[1])
            wait_until(lambda port=port: not port_open(port), timeout_s=15)
            assert not port_open(port), f"{name} still listens on {port}"
        assert not (self.data_dir / "up.json").exists()


def query(orchestrator: str, text: str, client: httpx.Client) -> str | None:
    """`POST /queries` (with the client's auth, e.g. `EcoUp.auth()`); the run id when it was
    accepted, else None."""
    try:
        response = client.post(f"{orchestrator}/queries", json={"query": text, "user_id": "faults"})
    except httpx.HTTPError:
        return None
    return str(response.json()["run_id"]) if response.status_code == 202 else None


def wait_run(
    orchestrator: str, run_id: str, timeout_s: float = 180, *, auth: httpx.Auth | None = None
) -> dict[str, Any]:
    """The run once it reached a terminal state."""
    terminal = {"completed", "failed", "cancelled", "needs_clarification", "waiting_review"}

    def done() -> dict[str, Any] | None:
        try:
            response = httpx.get(f"{orchestrator}/runs/{run_id}", timeout=10, auth=auth)
        except httpx.HTTPError:
            return None
        run = response.json() if response.status_code == 200 else {}
        return run if run.get("status") in terminal else None

    try:
        run: dict[str, Any] = wait_until(done, timeout_s=timeout_s, interval_s=0.25)  # type: ignore[assignment]
    except TimeoutError:
        last = httpx.get(f"{orchestrator}/runs/{run_id}", timeout=10, auth=auth).text
        raise AssertionError(f"run {run_id} did not finish: {last}") from None
    return run


def documents_per_run(doc_store: str, *, auth: httpx.Auth | None = None) -> dict[str, int]:
    """How many documents the doc store holds for each run id (from their metadata)."""
    counts: dict[str, int] = {}
    page = 1
    with httpx.Client(timeout=30, auth=auth) as client:
        while True:
            response = client.get(f"{doc_store}/documents", params={"page": page, "page_size": 100})
            if response.status_code == 404:
                return counts
            body = response.json()
            for item in body["items"]:
                run_id = (item.get("metadata") or {}).get("run_id")
                if run_id:
                    counts[run_id] = counts.get(run_id, 0) + 1
            # a short page is the last: `total` is exact only up to the store's count cap
            if len(body["items"]) < body["page_size"]:
                return counts
            page += 1

"""The whole ecosystem as real processes on a private Redis a test may kill and restart.

Services are started by their uvicorn app strings, never imported: `eco_shared` imports no
service. Used by the root fault and load tests. Every service verifies tokens against the
test session's key material (`ECO_AUTH_DIR`), so a test calls them as a user with
`headers(service)`, `client(service)` or `http()` (one client for every service, each call
with a token for the service its URL points at).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

import httpx

from eco_shared.auth import ADMIN
from eco_shared.redis_server import RedisServer
from eco_shared.testing.auth import AUTH_DIR_ENV, bearer, session_material, token
from eco_shared.testing.processes import ServiceProcess

START_TIMEOUT_S = 90
TERMINAL = {"completed", "failed", "cancelled", "needs_clarification"}
SERVICES = {
    "discovery": ("eco_discovery.main:create_app", "ECO_DISCOVERY_PORT"),
    "llm-gateway": ("eco_llm_gateway.main:create_app", "ECO_LLM_GATEWAY_PORT"),
    "doc-store": ("eco_doc_store.main:create_app", "ECO_DOC_STORE_PORT"),
    "log-collector": ("eco_log_collector.main:create_app", "ECO_LOG_COLLECTOR_PORT"),
    "prompt-store": ("eco_prompt_store.main:create_app", "ECO_PROMPT_STORE_PORT"),
    "orchestrator": ("eco_orchestrator.main:create_app", "ECO_ORCHESTRATOR_PORT"),
}


class EcosystemAuth(httpx.Auth):
    """A fresh token per request for whichever of the ecosystem's services the URL names."""

    def __init__(self, ecosystem: PrivateEcosystem, scopes: Iterable[str], subject: str) -> None:
        self.ecosystem = ecosystem
        self.scopes = tuple(scopes)
        self.subject = subject

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        audience = self.ecosystem.service_at(str(request.url))
        bearer_token = token(audience, self.scopes, subject=self.subject)
        request.headers["Authorization"] = f"Bearer {bearer_token}"
        yield request


class PrivateEcosystem:
    """Redis, discovery and every other service (`SERVICES`), each its own process."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.redis = RedisServer(data_dir / "redis")
        self.env: dict[str, str] = {
            "ECO_DATA_DIR": str(data_dir),
            "ECO_ENVIRONMENT": "test",
            "ECO_LOG_FORMAT": "json",
            "ECO_DISCOVERY_CHECK_INTERVAL_S": "0.5",
            AUTH_DIR_ENV: str(session_material().directory),
            **env,
        }
        self.procs: dict[str, ServiceProcess] = {}

    def start(self) -> PrivateEcosystem:
        """Redis, then discovery, then the rest; return once all pass their checks."""
        self.redis.start()
        self.env["ECO_REDIS_URL"] = self.redis.url
        self.start_service("discovery", ECO_DISCOVERY_REGISTER_WITH_DISCOVERY="false")
        self.env["ECO_DISCOVERY_URL"] = self.url("discovery")
        for name in SERVICES:
            if name != "discovery":
                self.start_service(name)
        self.wait_all_passing(60)
        return self

    def start_service(self, name: str, port: int | None = None, **env: str) -> ServiceProcess:
        """Start (or start again, on `port`) one service and wait until it answers."""
        app, port_env = SERVICES[name]
        proc = ServiceProcess(
            app, env={**self.env, **env}, port=port, port_env=port_env, log_dir=self.data_dir
        )
        proc.start(timeout_s=START_TIMEOUT_S)
        self.procs[name] = proc
        return proc

    def url(self, name: str) -> str:
        """The base URL of a running service."""
        return self.procs[name].url

    def service_at(self, url: str) -> str:
        """The name of the running service `url` points at."""
        for name, proc in self.procs.items():
            if url.startswith(proc.url):
                return name
        raise ValueError(f"{url} is none of this ecosystem's services")

    def headers(
        self, service: str, scopes: Iterable[str] = (ADMIN,), *, subject: str = "user:test"
    ) -> dict[str, str]:
        """An Authorization header for one call to `service`."""
        return bearer(service, scopes, subject=subject)

    def client(
        self,
        service: str,
        scopes: Iterable[str] = (ADMIN,),
        *,
        subject: str = "user:test",
        **kwargs: Any,
    ) -> httpx.Client:
        """An httpx client on one service's base URL, calling as `subject`."""
        return httpx.Client(base_url=self.url(service), auth=self.auth(scopes, subject), **kwargs)

    def http(
        self, scopes: Iterable[str] = (ADMIN,), *, subject: str = "user:test", **kwargs: Any
    ) -> httpx.Client:
        """An httpx client for absolute URLs of any of the services, calling as `subject`."""
        return httpx.Client(auth=self.auth(scopes, subject), **kwargs)

    def auth(self, scopes: Iterable[str] = (ADMIN,), subject: str = "user:test") -> httpx.Auth:
        """httpx auth for any of the services (sync or async clients)."""
        return EcosystemAuth(self, scopes, subject)

    def passing(self) -> set[str]:
        """The names of the services discovery lists as passing."""
        try:
            listing = httpx.get(
                self.url("discovery") + "/services",
                headers=self.headers("discovery", ("discovery:read",)),
                timeout=5,
            ).json()
        except (httpx.HTTPError, ValueError):
            return set()
        return {s["name"] for s in listing.get("services", []) if s["status"] == "passing"}

    def wait_all_passing(self, timeout_s: float) -> float:
        """Seconds until every service is registered and passing in discovery."""
        started = time.monotonic()
        deadline = started + timeout_s
        while set(SERVICES) - {"discovery"} - self.passing():
            assert time.monotonic() < deadline, f"not all passing: {self.passing()}"
            time.sleep(0.2)
        return time.monotonic() - started

    def restart_redis(self, down_s: float) -> None:
        """SIGKILL Redis, keep it down `down_s`, start it again on the same port from its AOF."""
        self.redis.kill()
        time.sleep(down_s)
        self.redis = RedisServer(self.redis.data_dir, port=self.redis.port).start()

    def stop(self) -> None:
        """SIGTERM every service (reverse start order), then Redis."""
        for proc in reversed(self.procs.values()):
            proc.terminate()
        self.redis.stop()


def wait_runs(
    client: httpx.Client, base: str, run_ids: list[str], timeout_s: float
) -> dict[str, dict[str, Any]]:
    """Poll until every run is terminal; their final records."""
    deadline = time.monotonic() + timeout_s
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(run_ids):
        for run_id in run_ids:
            if run_id in done:
                continue
            try:
                response = client.get(f"{base}/runs/{run_id}")
            except httpx.HTTPError:
                continue
            if response.status_code == 200 and response.json()["status"] in TERMINAL:
                done[run_id] = response.json()
        pending = sorted(set(run_ids) - set(done))
        assert time.monotonic() < deadline, f"runs not terminal: {pending}"
        time.sleep(0.5)
    return done


def documents_by_run(client: httpx.Client, doc_store: str) -> dict[str, list[dict[str, Any]]]:
    """Every stored document, grouped by the run that stored it."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    page = 1
    while True:
        items = client.get(doc_store + "/documents", params={"page_size": 100, "page": page})
        batch = items.json()["items"]
        for item in batch:
            run_id = item.get("metadata", {}).get("run_id")
            if run_id:
                grouped.setdefault(run_id, []).append(item)
        if len(batch) < 100:
            return grouped
        page += 1


def stored_events(client: httpx.Client, collector: str) -> set[str]:
    """The document ids of every `document.stored` event the log collector holds."""
    ids: set[str] = set()
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"type": "document.stored", "limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = client.get(collector + "/events", params=params).json()
        ids.update(str(e["data"].get("document_id")) for e in page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return ids

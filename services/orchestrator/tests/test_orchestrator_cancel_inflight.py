"""Cancel stops a run inside a slow service call, not only between nodes."""

import asyncio
import threading
import time
import uuid
from pathlib import Path

import httpx
from fastapi import FastAPI, Request

from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import TestAuth
from eco_shared.testing.servers import ThreadedServer

APP = "eco_orchestrator.main:create_app"


class SlowDiscovery:
    """Discovery that accepts every call and never answers, noting when callers give up."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.abandoned: list[str] = []
        self.lock = threading.Lock()
        self.app = FastAPI()

        @self.app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
        async def hang(path: str, request: Request) -> dict[str, str]:
            with self.lock:
                self.started.append(path)
            for _ in range(600):  # 60 s, far past the run's cancel
                if await request.is_disconnected():
                    with self.lock:
                        self.abandoned.append(path)
                    return {}
                await asyncio.sleep(0.1)
            return {}


def test_cancel_interrupts_an_in_flight_call(
    redis_url: str, redis_prefix: str, tmp_path: Path, verifier_auth: Path
) -> None:
    slow = SlowDiscovery()
    with ThreadedServer(slow.app) as discovery:
        env = {
            "ECO_REDIS_URL": redis_url,
            "ECO_REDIS_PREFIX": redis_prefix,
            "ECO_DATA_DIR": str(tmp_path),
            "ECO_ENVIRONMENT": "test",
            "ECO_LOG_FORMAT": "json",
            "ECO_DISCOVERY_URL": discovery.url,
            "ECO_ORCHESTRATOR_REGISTER_WITH_DISCOVERY": "false",
            "ECO_ORCHESTRATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'runs.db'}",
            "ECO_OTLP_ENDPOINT": "none",
            # no issuer here: the orchestrator verifies callers and asks for no run grant
            "ECO_AUTH_DIR": str(verifier_auth),
        }
        proc = ServiceProcess(APP, env=env, port_env="ECO_ORCHESTRATOR_PORT", log_dir=tmp_path)
        proc.start()
        try:
            auth = TestAuth("orchestrator")
            with httpx.Client(base_url=proc.url, timeout=30, auth=auth) as client:
                user = f"u-{uuid.uuid4().hex[:6]}"
                run_id = client.post(
                    "/queries", json={"query": "How healthy is the ecosystem?", "user_id": user}
                ).json()["run_id"]
                # The run's first node is now waiting on discovery (the directory's own
                # `/watch` stream is not the run's call).
                wait_until(lambda: any(p != "watch" for p in slow.started), timeout_s=30)
                inflight = next(p for p in slow.started if p != "watch")
                wait_until(
                    lambda: client.get(f"/runs/{run_id}").json()["status"] == "running",
                    timeout_s=30,
                )
                asked = time.monotonic()
                assert client.post(f"/runs/{run_id}/cancel").status_code == 202
                wait_until(
                    lambda: client.get(f"/runs/{run_id}").json()["status"] == "cancelled",
                    timeout_s=15,
                )
                took = time.monotonic() - asked
                # Well inside the 60 s the call would have hung, and the call itself was
                # abandoned: discovery saw its caller go away.
                assert took < 15
                wait_until(lambda: inflight in slow.abandoned, timeout_s=10)
        finally:
            proc.terminate()

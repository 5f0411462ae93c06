"""Self-registration against a real HTTP server that speaks the discovery contract."""

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from eco_shared.redis_server import free_port
from eco_shared.registration import Registrar
from eco_shared.settings import ServiceSettings
from eco_shared.testing import ServiceProcess, wait_until
from eco_shared.testing.auth import add_token_route
from eco_shared.testing.servers import ThreadedServer


class ContractDiscovery:
    """The registration half of DESIGN.md's discovery contract, recording every call."""

    def __init__(self) -> None:
        self.instances: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.app = FastAPI()
        self.bearers: set[str] = set()

        add_token_route(self.app)

        @self.app.post("/instances", status_code=201)
        def register(body: dict[str, Any], request: Request) -> dict[str, Any]:
            with self.lock:
                self.bearers.add(request.headers.get("authorization", ""))
                self.calls.append(("register", body["instance_id"]))
                self.instances[body["instance_id"]] = body
            return {"instance_id": body["instance_id"], "ttl_s": 1.5}

        @self.app.put("/instances/{instance_id}/heartbeat")
        def heartbeat(instance_id: str) -> dict[str, Any]:
            with self.lock:
                self.calls.append(("heartbeat", instance_id))
                if instance_id not in self.instances:
                    raise HTTPException(404)
            return {"instance_id": instance_id, "ttl_s": 1.5}

        @self.app.delete("/instances/{instance_id}", status_code=204)
        def deregister(instance_id: str) -> None:
            with self.lock:
                self.calls.append(("deregister", instance_id))
                self.instances.pop(instance_id, None)

    def count(self, kind: str) -> int:
        with self.lock:
            return sum(1 for k, _ in self.calls if k == kind)


def test_registration_retries_until_discovery_appears_then_heartbeats(
    start_service: Callable[..., ServiceProcess], eco_env: dict[str, str]
) -> None:
    discovery_port = free_port()
    service = start_service(
        "eco_shared.testing.example_service:create_app",
        env={
            **eco_env,
            "ECO_DISCOVERY_URL": f"http://127.0.0.1:{discovery_port}",
            "ECO_EXAMPLE_INSTANCE_ID": "example-1",
            "ECO_EXAMPLE_TAGS": '["test"]',
        },
        port_env="ECO_EXAMPLE_PORT",
    )
    # Discovery is down: the service started anyway and answers.
    assert httpx.get(f"{service.url}/health").status_code == 200
    time.sleep(1.0)

    discovery = ContractDiscovery()
    with ThreadedServer(discovery.app, port=discovery_port):
        wait_until(lambda: "example-1" in discovery.instances, timeout_s=15)
        record = discovery.instances["example-1"]
        assert record["name"] == "example"
        assert record["base_url"] == service.url
        assert record["tags"] == ["test"]
        assert record["version"] == "0.1.0"
        # it registered with a bearer token it got from the issuer for its own name
        assert all(b.startswith("Bearer ey") for b in discovery.bearers)

        # Heartbeats arrive at about a third of the 1.5 s lease.
        wait_until(lambda: discovery.count("heartbeat") >= 3, timeout_s=5)

        # Discovery loses the record: the next heartbeat gets 404 and the service registers again.
        with discovery.lock:
            discovery.instances.clear()
        wait_until(lambda: discovery.count("register") >= 2, timeout_s=5)
        assert "example-1" in discovery.instances

        # A graceful stop deregisters.
        # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean exit too.
        assert service.terminate() in (0, -15)
        assert discovery.count("deregister") == 1
        assert "example-1" not in discovery.instances


async def test_a_heartbeat_answered_409_registers_afresh() -> None:
    discovery = ContractDiscovery()
    refused: list[str] = []

    @discovery.app.middleware("http")
    async def conflict_once(request: Any, call_next: Any) -> Any:
        # the record now belongs to another registration (discovery's generation check)
        if request.url.path.endswith("/heartbeat") and not refused:
            refused.append(request.url.path)
            return JSONResponse({"status": 409}, status_code=409)
        return await call_next(request)

    with ThreadedServer(discovery.app) as server:
        settings = ServiceSettings(
            service_name="example", instance_id="example-409", discovery_url=server.url
        )
        registrar = Registrar(settings)
        registrar.start()
        try:
            deadline = time.monotonic() + 30
            # registered afresh, and the answer read (a stop mid-registration has nothing
            # to deregister)
            while discovery.count("register") < 2 or not registrar.registered.is_set():
                assert time.monotonic() < deadline, discovery.calls
                await asyncio.sleep(0.05)
        finally:
            await registrar.stop()
    assert refused
    assert discovery.calls[-1] == ("deregister", "example-409")

"""Discovery read path: `GET /services/{name}?healthy=true` against a minimal FastAPI endpoint.

    uv run python bench/discovery.py [--seconds 5] [--rounds 3] [--connections 16]

Without `ECO_BENCH_REDIS_URL` it starts an embedded redis-server. Every server runs the
same way: `uvicorn --factory`, one worker, one process each (`ServiceProcess`).

(a) baseline: a minimal FastAPI app (one route returning a small constant JSON object).
(b) factory baseline: the same constant route on `create_service_app` (request ids,
    metrics, body limit, tracing hooks), i.e. what any of our services pays per request.
(c) discovery: `GET /services/bench?healthy=true` with 3 registered instances, each
    request with a valid `discovery:read` token (the same one: verified once, then cached).

The load generator keeps `--connections` HTTP/1.1 keep-alive connections busy from one
asyncio process (raw sockets: httpx would be the bottleneck on a small machine); rounds
alternate between the servers so a noisy neighbour hurts all of them alike. The ratio
discovery/baseline is judged against the target 0.7. Finally `ServiceDirectory.resolve`
calls/s answered from its cache, in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import structlog
from _harness import cleanup, cpu_seconds, key_material, load, redis_url
from fastapi import FastAPI

from eco_shared.app import create_service_app
from eco_shared.auth import PUBLIC, service_subject
from eco_shared.directory import ServiceDirectory
from eco_shared.http import ServiceClient
from eco_shared.settings import ServiceSettings
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import MintedTokens, bearer, token

TARGET = 0.7  # discovery / minimal FastAPI
TARGET_FACTORY = 0.8  # the constant route on create_service_app / minimal FastAPI
BODY = {"name": "bench", "ok": True}


def baseline_app() -> FastAPI:
    """(a) The minimal FastAPI endpoint."""
    app = FastAPI()

    @app.get("/services/{name}")
    async def get(name: str, healthy: bool = False) -> dict[str, object]:
        return BODY

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def factory_app() -> FastAPI:
    """(b) The same endpoint on the shared app factory."""
    settings = ServiceSettings(service_name="bench-baseline", register_with_discovery=False)
    app = create_service_app(settings)

    @app.get("/services/{name}", dependencies=[PUBLIC])
    async def get(name: str, healthy: bool = False) -> dict[str, object]:
        return BODY

    return app


async def resolve_rate(url: str, calls: int) -> float:
    """ServiceDirectory.resolve calls/s answered from its cache."""
    async with ServiceClient(service_name="bench", tokens=MintedTokens()) as client:
        directory = ServiceDirectory(url, client, cache_ttl_s=3600)
        await directory.resolve("bench")  # fill the cache
        started = time.perf_counter()
        for _ in range(calls):
            await directory.resolve("bench")
        return calls / (time.perf_counter() - started)


def run(args: argparse.Namespace) -> bool:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    bench_dir = str(Path(__file__).resolve().parent)
    with key_material(), redis_url() as url, tempfile.TemporaryDirectory() as logs:
        env = {
            "ECO_REDIS_URL": url,
            "ECO_REDIS_PREFIX": prefix,
            "ECO_LOG_LEVEL": "WARNING",
            "ECO_LOG_FORMAT": "json",
            "PYTHONPATH": os.pathsep.join([bench_dir, os.environ.get("PYTHONPATH", "")]),
        }
        servers = {
            "baseline": ServiceProcess("discovery:baseline_app", env=env, log_dir=Path(logs)),
            "factory": ServiceProcess("discovery:factory_app", env=env, log_dir=Path(logs)),
            "discovery": ServiceProcess(
                "eco_discovery.main:create_app",
                env=env,
                log_dir=Path(logs),
                port_env="ECO_DISCOVERY_PORT",
            ),
        }
        try:
            for server in servers.values():
                server.start(timeout_s=60)
            disc = servers["discovery"].url
            registrar = bearer(
                "discovery",
                ("discovery:register:bench",),
                subject=service_subject("bench"),
            )
            for i in range(3):
                body = {"name": "bench", "instance_id": f"bench-{i}", "base_url": disc}
                httpx.post(f"{disc}/instances", json=body, headers=registrar).raise_for_status()
            reader = {"Authorization": f"Bearer {token('discovery', ('discovery:read',))}"}
            healthy = httpx.get(
                f"{disc}/services/bench", params={"healthy": "true"}, headers=reader
            ).json()
            assert len(healthy["instances"]) == 3, healthy
            path = "/services/bench?healthy=true"
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
            cpu_us: dict[str, list[float]] = {name: [] for name in servers}
            for server in servers.values():  # warm-up
                asyncio.run(load(server.url, path, 1.0, args.connections, reader))
            for _ in range(args.rounds):
                for name, server in servers.items():
                    assert server.process is not None
                    before = cpu_seconds(server.process.pid)
                    phase = asyncio.run(
                        load(server.url, path, args.seconds, args.connections, reader)
                    )
                    rps, p99 = phase.rps, phase.p99_ms
                    used = cpu_seconds(server.process.pid) - before
                    results[name].append((rps, p99))
                    cpu_us[name].append(1e6 * used / (rps * args.seconds))
            resolves = asyncio.run(resolve_rate(disc, args.resolves))
        finally:
            for server in servers.values():
                server.terminate()
            cleanup(url, prefix)

    def best(name: str) -> tuple[float, float]:
        rps = statistics.median(r for r, _ in results[name])
        p99 = statistics.median(p for _, p in results[name])
        return rps, p99

    base, fact, disc_r = best("baseline"), best("factory"), best("discovery")
    ratio = disc_r[0] / base[0]
    factory_ratio = fact[0] / base[0]
    passed = ratio >= TARGET and factory_ratio >= TARGET_FACTORY

    def cpu(name: str) -> str:
        return f"{statistics.median(cpu_us[name]):6.0f} CPU-us/request"

    print(f"connections: {args.connections}, {args.rounds} rounds of {args.seconds:g} s each")
    print(
        f"(a) minimal FastAPI:       {base[0]:9,.0f} req/s   p99 {base[1]:7.2f} ms"
        f" {cpu('baseline')}"
    )
    print(
        f"(b) same on app factory:   {fact[0]:9,.0f} req/s   p99 {fact[1]:7.2f} ms {cpu('factory')}"
    )
    print(
        f"(c) discovery healthy=true:{disc_r[0]:9,.0f} req/s   p99 {disc_r[1]:7.2f} ms"
        f" {cpu('discovery')}"
    )
    print(f"ratio factory/minimal:     {factory_ratio:9.2f} (target >= {TARGET_FACTORY})")
    print(f"ratio discovery/minimal:   {ratio:9.2f} (target >= {TARGET})")
    print(f"ratio discovery/factory:   {disc_r[0] / fact[0]:9.2f}")
    print(f"ServiceDirectory.resolve from cache: {resolves:,.0f} calls/s")
    print(f"result:                    {'PASS' if passed else 'FAIL'}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description="Discovery read path against minimal FastAPI.")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--resolves", type=int, default=200_000)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sys.exit(0 if run(args) else 1)


if __name__ == "__main__":
    main()

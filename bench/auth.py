"""What authentication costs a request: a constant route with a valid token vs open.

    uv run python bench/auth.py [--seconds 5] [--rounds 3] [--connections 16]

Both servers are the same constant route on `create_service_app`, each its own uvicorn
process (`ServiceProcess`): (a) the route is PUBLIC, (b) it requires a scope and every
request carries a valid ES256 token. A verifier checks a token's signature once and then
answers from its cache (by the token's SHA-256, until it expires), so (b)/(a) is judged
against the target 0.9. Also printed, in-process: how many distinct tokens per second one
verifier checks (the cost a new token pays once).
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

import structlog
from _harness import cleanup, cpu_seconds, load, redis_url
from fastapi import FastAPI

from eco_shared.app import create_service_app
from eco_shared.auth import PUBLIC, JwksSource, Verifier, ensure_material, mint, require
from eco_shared.settings import ServiceSettings
from eco_shared.testing import ServiceProcess

TARGET = 0.9
BODY = {"name": "bench", "ok": True}


def _app(name: str) -> FastAPI:
    settings = ServiceSettings(service_name=name, register_with_discovery=False)
    return create_service_app(settings)


def open_app() -> FastAPI:
    """(a) The constant route, open to anyone."""
    app = _app("bench-open")

    @app.get("/constant", dependencies=[PUBLIC])
    async def constant() -> dict[str, object]:
        return BODY

    return app


def token_app() -> FastAPI:
    """(b) The same route, for callers holding `bench:read`."""
    app = _app("bench-auth")

    @app.get("/constant", dependencies=[require("bench:read")])
    async def constant() -> dict[str, object]:
        return BODY

    return app


async def cold_verifies(material_dir: Path, count: int) -> float:
    """Distinct tokens verified per second by one verifier (no cache hits)."""
    from eco_shared.auth import AuthMaterial

    material = AuthMaterial(material_dir)
    key = material.signing_keys().current
    tokens = [
        mint(key, subject=f"user:{i}", audience="bench-auth", scopes={"bench:read"})
        for i in range(count)
    ]
    verifier = Verifier("bench-auth", JwksSource(path=material.jwks_path))
    started = time.perf_counter()
    for minted in tokens:
        await verifier.verify(minted)
    return count / (time.perf_counter() - started)


def run(args: argparse.Namespace) -> bool:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    bench_dir = str(Path(__file__).resolve().parent)
    with redis_url() as url, tempfile.TemporaryDirectory() as tmp:
        material = ensure_material(Path(tmp) / "auth")
        env = {
            "ECO_REDIS_URL": url,
            "ECO_REDIS_PREFIX": prefix,
            "ECO_AUTH_DIR": str(material.directory),
            "ECO_LOG_LEVEL": "WARNING",
            "ECO_LOG_FORMAT": "json",
            "PYTHONPATH": os.pathsep.join([bench_dir, os.environ.get("PYTHONPATH", "")]),
        }
        servers = {
            "open": ServiceProcess("auth:open_app", env=env, log_dir=Path(tmp)),
            "token": ServiceProcess("auth:token_app", env=env, log_dir=Path(tmp)),
        }
        key = material.signing_keys().current
        bearer = mint(key, subject="user:bench", audience="bench-auth", scopes={"bench:read"})
        headers = {"open": {}, "token": {"Authorization": f"Bearer {bearer}"}}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
        cpu_us: dict[str, list[float]] = {name: [] for name in servers}
        try:
            for server in servers.values():
                server.start(timeout_s=60)
            for name, server in servers.items():  # warm-up (and a check that both answer 200)
                asyncio.run(load(server.url, "/constant", 1.0, args.connections, headers[name]))
            for _ in range(args.rounds):
                for name, server in servers.items():
                    assert server.process is not None
                    before = cpu_seconds(server.process.pid)
                    phase = asyncio.run(
                        load(server.url, "/constant", args.seconds, args.connections, headers[name])
                    )
                    used = cpu_seconds(server.process.pid) - before
                    results[name].append((phase.rps, phase.p99_ms))
                    cpu_us[name].append(1e6 * used / (phase.rps * args.seconds))
        finally:
            for server in servers.values():
                server.terminate()
            cleanup(url, prefix)
        cold = asyncio.run(cold_verifies(material.directory, args.cold))

    def best(name: str) -> tuple[float, float]:
        return (
            statistics.median(r for r, _ in results[name]),
            statistics.median(p for _, p in results[name]),
        )

    base, auth = best("open"), best("token")
    ratio = auth[0] / base[0]
    passed = ratio >= TARGET
    print(f"connections: {args.connections}, {args.rounds} rounds of {args.seconds:g} s each")

    def cpu(name: str) -> str:
        return f"{statistics.median(cpu_us[name]):6.0f} server CPU-us/request"

    print(
        f"(a) constant route, open:        {base[0]:9,.0f} req/s   p99 {base[1]:7.2f} ms"
        f" {cpu('open')}"
    )
    print(
        f"(b) same, with a valid token:    {auth[0]:9,.0f} req/s   p99 {auth[1]:7.2f} ms"
        f" {cpu('token')}"
    )
    print(f"ratio token/open:                {ratio:9.2f} (target >= {TARGET})")
    print(f"distinct tokens verified (cold): {cold:9,.0f} /s in-process")
    print(f"result:                          {'PASS' if passed else 'FAIL'}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description="Token checks against an open route.")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--cold", type=int, default=2000)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sys.exit(0 if run(args) else 1)


if __name__ == "__main__":
    main()

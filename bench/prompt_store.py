"""Prompt store: resolve-by-label through the orchestrator's client (a cache hit) against a
module constant, and `GET /prompts/{name}/labels/{label}` against a minimal FastAPI endpoint.

    uv run python bench/prompt_store.py [--calls 200000] [--seconds 5] [--rounds 3]
                                        [--connections 16]

Without `ECO_BENCH_REDIS_URL` it starts an embedded redis-server. The store runs as a real
uvicorn process (`ServiceProcess`) on a SQLite file in a temporary directory.

(a) in-process, per call: `await client.resolve(name)` answered from the client's memory
    cache (the orchestrator's hot path), and the same for a label under an A/B experiment
    (one sha256 for the sticky arm, one exposure queued), against `await` of a coroutine
    that returns a module constant (what `load_prompt` was before the store). The overhead
    (client minus constant) is judged against the target: at most 10 us per call.
(b) over HTTP: `GET /prompts/{name}/labels/production` (a valid `prompts:read` token, the
    same one: verified once, then cached) against a minimal FastAPI app's constant route,
    each a `uvicorn --factory` process; rounds alternate so a noisy neighbour hurts both
    alike. The ratio store/minimal is printed against that same-run baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _harness import cleanup, cpu_seconds, key_material, load, quiet_logs, redis_url
from fastapi import FastAPI

from eco_shared.adapters.prompt_store import PromptStoreAdapter
from eco_shared.http import ServiceClient
from eco_shared.prompts.client import PromptClient
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import MintedTokens, bearer

TARGET_OVERHEAD_US = 10.0  # client cache hit minus a module constant, per call
TEMPLATE = "Summarize {{ text }} in at most {{ sentences }} sentences."
CONSTANT = {"name": "bench", "version": 1, "template": TEMPLATE}
PROMPTS = ("prompts:read", "prompts:write")


def baseline_app() -> FastAPI:
    """The minimal FastAPI endpoint (b) is held against."""
    app = FastAPI()

    @app.get("/prompts/{name}/labels/{label}")
    async def get(name: str, label: str) -> dict[str, Any]:
        return CONSTANT

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _constant() -> dict[str, Any]:
    return CONSTANT


async def per_call_us(calls: int, resolve: Any) -> float:
    """Median of 5 timed loops of `calls` awaits, in microseconds per call."""
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            await resolve()
        samples.append((time.perf_counter() - started) * 1e6 / calls)
    return statistics.median(samples)


async def in_process(store_url: str, calls: int) -> dict[str, float]:
    """(a): constant, plain cache hit and experiment cache hit, us per call."""
    async with ServiceClient(service_name="orchestrator", tokens=MintedTokens(PROMPTS)) as http:
        client = PromptClient(PromptStoreAdapter(http, base_url=store_url), ttl_s=3600)
        try:
            for name in ("bench", "bench-ab"):
                resolved = await client.resolve(name)
                assert resolved.source == "store", resolved
            assert (await client.resolve("bench")).source == "cache"
            units = [f"user:{i}" for i in range(1000)]
            arms = {(await client.resolve("bench-ab", unit_id=u)).experiment_arm for u in units}
            assert arms == {"a", "b"}, arms
            counter = iter(range(10**9))

            async def ab() -> Any:
                return await client.resolve("bench-ab", unit_id=units[next(counter) % 1000])

            figures = {
                "constant": await per_call_us(calls, _constant),
                "hit": await per_call_us(calls, lambda: client.resolve("bench")),
                "hit_ab": await per_call_us(calls, ab),
            }
            return figures
        finally:
            await client.aclose()


def seed_store(url: str) -> None:
    """One prompt with `production` set, and one under a 50/50 experiment."""
    headers = bearer("prompt-store", PROMPTS)
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        for name, texts in (("bench", [TEMPLATE]), ("bench-ab", [TEMPLATE, TEMPLATE + " Now."])):
            client.post("/prompts", json={"name": name}).raise_for_status()
            variables = {"text": {"type": "string"}, "sentences": {"type": "integer"}}
            versions = []
            for text in texts:
                body = {"template": text, "variables": variables}
                response = client.post(f"/prompts/{name}/versions", json=body)
                response.raise_for_status()
                versions.append(response.json()["version"])
            body = {"version": versions[0], "expected_version": None, "reason": "bench"}
            client.put(f"/prompts/{name}/labels/production", json=body).raise_for_status()
        arms = [
            {"name": "a", "version": versions[0], "weight": 0.5},
            {"name": "b", "version": versions[1], "weight": 0.5},
        ]
        body = {"name": "bench-ab", "prompt": "bench-ab", "label": "production", "arms": arms}
        client.post("/experiments", json=body).raise_for_status()


def run(args: argparse.Namespace) -> bool:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    bench_dir = str(Path(__file__).resolve().parent)
    with key_material(), redis_url() as url, tempfile.TemporaryDirectory() as tmp:
        env = {
            "ECO_REDIS_URL": url,
            "ECO_REDIS_PREFIX": prefix,
            "ECO_DATA_DIR": tmp,
            "ECO_LOG_LEVEL": "WARNING",
            "ECO_LOG_FORMAT": "json",
            "PYTHONPATH": os.pathsep.join([bench_dir, os.environ.get("PYTHONPATH", "")]),
        }
        servers = {
            "baseline": ServiceProcess("prompt_store:baseline_app", env=env, log_dir=Path(tmp)),
            "store": ServiceProcess(
                "eco_prompt_store.main:create_app",
                env={
                    **env,
                    "ECO_PROMPT_STORE_DATABASE_URL": f"sqlite:///{Path(tmp) / 'prompts.db'}",
                    "ECO_PROMPT_STORE_REGISTER_WITH_DISCOVERY": "false",
                },
                log_dir=Path(tmp),
                port_env="ECO_PROMPT_STORE_PORT",
            ),
        }
        try:
            for server in servers.values():
                server.start(timeout_s=60)
            store = servers["store"].url
            seed_store(store)
            figures = asyncio.run(in_process(store, args.calls))
            reader = bearer("prompt-store", ("prompts:read",))
            path = "/prompts/bench/labels/production"
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
                    used = cpu_seconds(server.process.pid) - before
                    results[name].append((phase.rps, phase.p99_ms))
                    cpu_us[name].append(1e6 * used / (phase.rps * args.seconds))
        finally:
            for server in servers.values():
                server.terminate()
            cleanup(url, prefix)

    def best(name: str) -> tuple[float, float]:
        return (
            statistics.median(r for r, _ in results[name]),
            statistics.median(p for _, p in results[name]),
        )

    def cpu(name: str) -> str:
        return f"{statistics.median(cpu_us[name]):6.0f} CPU-us/request"

    overhead = figures["hit"] - figures["constant"]
    overhead_ab = figures["hit_ab"] - figures["constant"]
    passed = overhead <= TARGET_OVERHEAD_US and overhead_ab <= TARGET_OVERHEAD_US
    base, served = best("baseline"), best("store")
    print(f"(a) {args.calls:,} calls a loop, median of 5 loops")
    print(f"    module constant:           {figures['constant']:7.3f} us/call")
    print(f"    client cache hit:          {figures['hit']:7.3f} us/call")
    print(f"    client cache hit, A/B arm: {figures['hit_ab']:7.3f} us/call")
    target = f"(target <= {TARGET_OVERHEAD_US:g})"
    print(f"    overhead, hit:             {overhead:7.3f} us {target}")
    print(f"    overhead, A/B arm:         {overhead_ab:7.3f} us {target}")
    print(f"(b) connections: {args.connections}, {args.rounds} rounds of {args.seconds:g} s each")
    print(
        f"    minimal FastAPI:           {base[0]:9,.0f} req/s   p99 {base[1]:7.2f} ms"
        f" {cpu('baseline')}"
    )
    print(
        f"    GET .../labels/production: {served[0]:9,.0f} req/s   p99 {served[1]:7.2f} ms"
        f" {cpu('store')}"
    )
    print(f"    ratio store/minimal:       {served[0] / base[0]:9.2f} (same-run baseline)")
    print(f"result:                        {'PASS' if passed else 'FAIL'}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description="Prompt client cache hits and store reads.")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    quiet_logs()
    sys.exit(0 if run(args) else 1)


if __name__ == "__main__":
    main()

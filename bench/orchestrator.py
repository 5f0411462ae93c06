"""Orchestrator benchmark: end-to-end latency of `api_documentation` with the offline
provider (p50/p99), runs/minute with 1 and 2 replicas, and where a run's time goes
(LangGraph's own machinery next to the time in service calls).

    uv run python bench/orchestrator.py [--latency-runs 20] [--throughput-runs 30]

Starts an embedded Redis (unless `ECO_BENCH_REDIS_URL` is set) and the five services as
real processes; everything is stopped and removed at the end. Authentication is on, as in
production: the services get their own tokens from discovery (the issuer) by client
credentials, and the bench is a user, `user:bench`, with an API key of the "user" role
(created at the issuer) exchanged there for its tokens. Each run acts for that user through
a run grant, so every call a run makes carries a delegated token the callee checks, key
status included.

Judged against the targets (exit 1 when one is missed): `api_documentation` p50 below
250 ms (printed beside its baseline in the same runs: the time of the run's service calls
alone, the floor the orchestrator adds its work to), 2 replicas at least 400 runs/minute and
at least 1.7 times the runs/minute of 1 replica (the baseline, measured in the same run).
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

import httpx
from _harness import cleanup, percentile

from eco_shared.auth import ApiKeyTokens, BearerAuth, user_subject
from eco_shared.redis_server import RedisServer
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import AUTH_DIR_ENV, bearer, session_material

QUERY = "Create API documentation for the doc-store service"
TARGET_P50_MS = 250.0
TARGET_RUNS_PER_MIN = 400.0
TARGET_SCALING = 1.7
USER = user_subject("bench")
USER_SCOPES = [
    "docs:read",
    "docs:write",
    "runs:create",
    "runs:read",
    "runs:write",
    "gateway:chat",
    "gateway:read",
    "discovery:read",
    "auth:keys",
]


async def wait_passing(discovery: str, count: int, timeout_s: float = 60) -> None:
    """Until discovery lists `count` services passing (as `user:bench`, `discovery:read`)."""
    headers = bearer("discovery", ("discovery:read",), subject=USER)
    async with httpx.AsyncClient(base_url=discovery, headers=headers, timeout=10) as client:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = await client.get("/services")
            response.raise_for_status()
            if sum(s["status"] == "passing" for s in response.json()["services"]) >= count:
                return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"fewer than {count} services passing after {timeout_s:g} s")


async def user_key(issuer: str) -> str:
    """A new API key of `user:bench` with the "user" role; its secret."""
    headers = bearer("discovery", USER_SCOPES, subject=USER)
    async with httpx.AsyncClient(base_url=issuer, headers=headers, timeout=10) as client:
        response = await client.post("/auth/keys", json={"name": "bench", "scopes": USER_SCOPES})
    response.raise_for_status()
    return str(response.json()["key"])


async def latency(client: httpx.AsyncClient, base: str, runs: int) -> bool:
    """p50/p99 of `runs` sequential `/execute-query` calls; whether p50 meets its target."""
    latencies, framework, calls, compute = [], [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = await client.post(base + "/execute-query", json={"query": QUERY})
        latencies.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
        run = await client.get(f"{base}/runs/{response.json()['run_id']}")
        run.raise_for_status()
        timings = run.json()["timings"]
        framework.append(timings["framework_ms"])
        calls.append(timings["calls_ms"])
        compute.append(timings["node_compute_ms"])
    p50 = percentile(latencies, 0.5)
    calls_p50 = percentile(calls, 0.5)
    ok = p50 < TARGET_P50_MS
    print(
        f"api_documentation end to end ({runs} runs, offline provider): "
        f"p50 {p50:.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms "
        f"(target p50 < {TARGET_P50_MS:.0f} ms: {'met' if ok else 'MISSED'})"
    )
    print(
        f"  baseline, the same runs' service calls alone: p50 {calls_p50:.0f} ms, "
        f"p99 {percentile(calls, 0.99):.0f} ms; end to end / calls at p50 {p50 / calls_p50:.2f}"
    )
    total = statistics.mean(latencies)
    rest = total - statistics.mean(calls) - statistics.mean(compute)
    rest -= statistics.mean(framework)
    print(
        f"  per run (mean): service calls {statistics.mean(calls):.0f} ms, node code "
        f"{statistics.mean(compute):.0f} ms, LangGraph machinery + checkpoints "
        f"{statistics.mean(framework):.0f} ms, queue/API/wait "
        f"{rest:.0f} ms"
    )
    return ok


async def submit(client: httpx.AsyncClient, base: str, attempts: int = 10) -> httpx.Response:
    """POST /queries, waiting out a 503 as a client should (its `Retry-After`): the time
    waited counts against the runs/minute."""
    for _ in range(attempts - 1):
        response = await client.post(base + "/queries", json={"query": QUERY})
        if response.status_code != 503:
            break
        await asyncio.sleep(min(float(response.headers.get("retry-after") or 1), 5.0))
    else:
        response = await client.post(base + "/queries", json={"query": QUERY})
    if response.is_error:
        raise RuntimeError(f"POST /queries answered {response.status_code}: {response.text}")
    return response


async def throughput(client: httpx.AsyncClient, bases: list[str], runs: int) -> float:
    """Runs/minute of `runs` queries spread over `bases`, all submitted, then awaited."""
    t0 = time.perf_counter()
    ids = []
    for i in range(runs):
        response = await submit(client, bases[i % len(bases)])
        ids.append(response.json()["run_id"])
    for run_id in ids:
        while True:
            response = await client.get(f"{bases[0]}/runs/{run_id}")
            response.raise_for_status()
            run = response.json()
            if run["status"] == "completed":
                break
            if run["status"] == "failed":
                raise RuntimeError(f"run {run_id} failed: {run.get('error')}")
            await asyncio.sleep(0.05)
    return runs / (time.perf_counter() - t0) * 60


async def measure(
    args: argparse.Namespace, discovery: str, first: str, start_replica: ServiceProcess
) -> bool:
    """Every figure, judged; True when every target is met."""
    await wait_passing(discovery, 5)
    # the user's tokens, exchanged from its API key and cached until a minute before expiry
    tokens = ApiKeyTokens(discovery, await user_key(discovery))
    try:
        auth = BearerAuth(tokens, "orchestrator")
        async with httpx.AsyncClient(timeout=300, auth=auth) as client:
            (await client.post(first + "/execute-query", json={"query": QUERY})).raise_for_status()
            fast = await latency(client, first, args.latency_runs)
            one = await throughput(client, [first], args.throughput_runs)
            second = await asyncio.to_thread(start_replica.start, 120)
            two = await throughput(client, [first, second.url], args.throughput_runs)
    finally:
        await tokens.aclose()
    rate_ok, scaling_ok = two >= TARGET_RUNS_PER_MIN, two / one >= TARGET_SCALING
    print(
        f"runs/minute ({args.throughput_runs} api_documentation runs): 1 replica {one:.0f} "
        f"(baseline), 2 replicas {two:.0f} (target >= {TARGET_RUNS_PER_MIN:.0f}: "
        f"{'met' if rate_ok else 'MISSED'}), ratio {two / one:.2f} "
        f"(target >= {TARGET_SCALING}: {'met' if scaling_ok else 'MISSED'})"
    )
    print("  (both replicas share one host and the same downstream service processes)")
    return fast and rate_ok and scaling_ok


def run(args: argparse.Namespace, tmp: Path) -> bool:
    # this run's own key material (the issuer signs with it, every service verifies with it,
    # each finds its client secret in it), removed with `tmp`
    os.environ[AUTH_DIR_ENV] = str(tmp / "auth")
    session_material()
    redis = None
    url = os.environ.get("ECO_BENCH_REDIS_URL")
    if url is None:
        redis = RedisServer(tmp / "redis").start()
        url = redis.url
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    env = {
        "ECO_REDIS_URL": url,
        "ECO_REDIS_PREFIX": prefix,
        "ECO_DATA_DIR": str(tmp),
        "ECO_LOG_LEVEL": "WARNING",
        "ECO_LOG_FORMAT": "json",
    }
    procs: list[ServiceProcess] = []

    def process(app: str, port_env: str, **extra: str) -> ServiceProcess:
        proc = ServiceProcess(app, env={**env, **extra}, port_env=port_env, log_dir=tmp)
        procs.append(proc)
        return proc

    def start(app: str, port_env: str, **extra: str) -> ServiceProcess:
        return process(app, port_env, **extra).start(timeout_s=120)

    try:
        discovery = start(
            "eco_discovery.main:create_app",
            "ECO_DISCOVERY_PORT",
            ECO_DISCOVERY_REGISTER_WITH_DISCOVERY="false",
        )
        env["ECO_DISCOVERY_URL"] = discovery.url
        start("eco_llm_gateway.main:create_app", "ECO_LLM_GATEWAY_PORT")
        start("eco_doc_store.main:create_app", "ECO_DOC_STORE_PORT")
        start("eco_log_collector.main:create_app", "ECO_LOG_COLLECTOR_PORT")
        first = start("eco_orchestrator.main:create_app", "ECO_ORCHESTRATOR_PORT")
        second = process("eco_orchestrator.main:create_app", "ECO_ORCHESTRATOR_PORT")
        return asyncio.run(measure(args, discovery.url, first.url, second))
    finally:
        for proc in reversed(procs):
            proc.terminate()
        if redis is not None:
            redis.stop()
        else:
            cleanup(url, prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description="Orchestrator latency and runs/minute.")
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--throughput-runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eco-bench-orch-", ignore_cleanup_errors=True) as tmp:
        ok = run(args, Path(tmp))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

"""Orchestrator benchmark: end-to-end latency of `api_documentation` with the offline
provider (p50/p99), runs/minute with 1 and 2 replicas, and where a run's time goes
(LangGraph's own machinery next to the time in service calls).

Starts an embedded Redis (unless `ECO_BENCH_REDIS_URL` is set) and the five services as
real processes; everything is stopped and removed at the end.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from eco_shared.redis_server import RedisServer
from eco_shared.testing import ServiceProcess

LATENCY_RUNS = 20
THROUGHPUT_RUNS = 30
QUERY = "Create API documentation for the doc-store service"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="eco-bench-orch-"))
    redis = None
    url = os.environ.get("ECO_BENCH_REDIS_URL")
    if url is None:
        redis = RedisServer(tmp / "redis").start()
        url = redis.url
    env = {
        "ECO_REDIS_URL": url,
        "ECO_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:",
        "ECO_DATA_DIR": str(tmp),
        "ECO_LOG_LEVEL": "WARNING",
        "ECO_LOG_FORMAT": "json",
    }
    procs: list[ServiceProcess] = []

    def start(app: str, port_env: str, **extra: str) -> ServiceProcess:
        proc = ServiceProcess(app, env={**env, **extra}, port_env=port_env, log_dir=tmp)
        procs.append(proc)
        return proc.start(timeout_s=120)

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
        client = httpx.Client(timeout=300)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listing = client.get(discovery.url + "/services").json()["services"]
            if sum(s["status"] == "passing" for s in listing) >= 5:
                break
            time.sleep(0.2)
        client.post(first.url + "/execute-query", json={"query": QUERY})  # warm-up

        latencies, framework, calls, compute = [], [], [], []
        for _ in range(LATENCY_RUNS):
            t0 = time.perf_counter()
            result = client.post(first.url + "/execute-query", json={"query": QUERY}).json()
            latencies.append((time.perf_counter() - t0) * 1000)
            timings = client.get(f"{first.url}/runs/{result['run_id']}").json()["timings"]
            framework.append(timings["framework_ms"])
            calls.append(timings["calls_ms"])
            compute.append(timings["node_compute_ms"])
        print(
            f"api_documentation end to end ({LATENCY_RUNS} runs, offline provider): "
            f"p50 {pct(latencies, 50):.0f} ms, p99 {pct(latencies, 99):.0f} ms"
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

        def throughput(bases: list[str]) -> float:
            t0 = time.perf_counter()
            ids = [
                client.post(bases[i % len(bases)] + "/queries", json={"query": QUERY}).json()[
                    "run_id"
                ]
                for i in range(THROUGHPUT_RUNS)
            ]
            for run_id in ids:
                while client.get(f"{bases[0]}/runs/{run_id}").json()["status"] not in (
                    "completed",
                    "failed",
                ):
                    time.sleep(0.05)
            return THROUGHPUT_RUNS / (time.perf_counter() - t0) * 60

        one = throughput([first.url])
        second = start("eco_orchestrator.main:create_app", "ECO_ORCHESTRATOR_PORT")
        two = throughput([first.url, second.url])
        print(
            f"runs/minute ({THROUGHPUT_RUNS} api_documentation runs): 1 replica {one:.0f}, "
            f"2 replicas {two:.0f}, ratio {two / one:.2f}"
        )
        print("  (both replicas share one host and the same downstream service processes)")
    finally:
        for proc in reversed(procs):
            proc.terminate()
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    main()

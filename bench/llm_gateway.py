"""LLM gateway overhead: chat completions through the gateway (offline provider, and cache
hits) next to a minimal FastAPI app under the same load, and next to calling the offline
provider in-process, all in the same run.

    uv run python bench/llm_gateway.py [--seconds 4] [--rounds 3] [--connections 8]

Redis: `ECO_BENCH_REDIS_URL`, else an embedded redis-server. Every server runs the same way:
`uvicorn --factory`, one worker, one process each (`ServiceProcess`); the gateway's keys get
a random prefix and are deleted afterwards.

(a) in-process: `OfflineProvider.chat` on a summarize task, one call after another.
(b) minimal:    a minimal FastAPI app: the same POST, one route answering a constant JSON
                object (no auth, no validation, no Redis): the floor of any FastAPI service.
(c) gateway:    the same request with `cache: false` (the offline provider answers each),
                each with a valid `gateway:chat` token (the same one: verified once, cached).
(d) cache hit:  the same request with `temperature: 0` (answered from Redis after the first).
(e) health:     `GET /health` of the gateway process: the shared app factory's floor.

The load generator keeps `--connections` HTTP/1.1 keep-alive connections busy from one
asyncio process (raw sockets: httpx would be the bottleneck on a small machine); rounds
alternate between the servers so a noisy neighbour hurts all of them alike. Each case runs
twice: at `--connections` (throughput, p99) and at one connection (p50, the latency a
single caller sees).

Targets: the gateway's added p50 at one connection (gateway p50 minus in-process p50)
<= 2 ms, and the gateway's throughput >= 0.5 x the minimal app's. Exit 1 when one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import structlog
from _harness import Figure, cleanup, figure, key_material, load, redis_url
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from eco_llm_gateway.protocol import TaskSpec
from eco_llm_gateway.providers import Message, OfflineProvider, ProviderRequest
from eco_llm_gateway.settings import ProviderConfig
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import token

ADDED_P50_TARGET_MS = 2.0
THROUGHPUT_TARGET = 0.5
PATH = "/v1/chat/completions"
TEXT = " ".join(
    [
        "The doc store keeps every document with its versions and a sha256 of each.",
        "Provenance is stored with each document, so a reader sees which services made it.",
        "Search runs over titles and bodies with full-text indexes.",
        "The orchestrator turns a query into a LangGraph workflow that calls other services.",
        "Every call to a language model goes through the gateway, which accounts for it.",
        "Sensitive prompts stay on local providers; the rest may go to remote ones.",
    ]
)
SPEC = {"task": "summarize", "max_sentences": 2}
CONSTANT = {"id": "chatcmpl-bench", "object": "chat.completion", "choices": []}


def body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "offline/extractive-1",
        "messages": [
            {"role": "system", "content": json.dumps(SPEC)},
            {"role": "user", "content": TEXT},
        ],
        **extra,
    }


def baseline_app() -> FastAPI:
    """(b) The minimal FastAPI app: the same POST answered with a constant JSON object."""
    app = FastAPI()

    @app.post(PATH)
    async def chat(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse(CONSTANT)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


# -- load ------------------------------------------------------------------------------------


async def in_process(seconds: float) -> Figure:
    """(a) `OfflineProvider.chat`, one call after another."""
    provider = OfflineProvider(ProviderConfig(name="offline", kind="offline"))
    request = ProviderRequest(
        model="extractive-1",
        messages=(Message("system", json.dumps(SPEC)), Message("user", TEXT)),
        task=TaskSpec.model_validate(SPEC),
        json_mode=True,
    )
    latencies = []
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < until:
        t = time.perf_counter()
        await provider.chat(request)
        latencies.append(time.perf_counter() - t)
    return figure(len(latencies), time.perf_counter() - started, latencies)


# -- run ---------------------------------------------------------------------------------------


def median(figures: list[Figure]) -> Figure:
    return Figure(*(statistics.median(getattr(f, n) for f in figures) for n in Figure.__slots__))


def run(args: argparse.Namespace) -> bool:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    bench_dir = str(Path(__file__).resolve().parent)
    with key_material(), redis_url() as url, tempfile.TemporaryDirectory() as logs:
        env = {
            "ECO_REDIS_URL": url,
            "ECO_REDIS_PREFIX": prefix,
            "ECO_LOG_LEVEL": "WARNING",
            "ECO_LOG_FORMAT": "json",
            "ECO_LLM_GATEWAY_REGISTER_WITH_DISCOVERY": "false",
            "ECO_LLM_GATEWAY_RATE_LIMIT_CAPACITY": "0",
            "PYTHONPATH": os.pathsep.join([bench_dir, os.environ.get("PYTHONPATH", "")]),
        }
        baseline = ServiceProcess("llm_gateway:baseline_app", env=env, log_dir=Path(logs))
        gateway = ServiceProcess(
            "eco_llm_gateway.main:create_app",
            env=env,
            port_env="ECO_LLM_GATEWAY_PORT",
            log_dir=Path(logs),
        )
        auth = {"Authorization": f"Bearer {token('llm-gateway', ('gateway:chat',))}"}
        cases: dict[str, dict[str, Any]] = {
            "minimal": {"url": lambda: baseline.url, "payload": body(cache=False)},
            "gateway": {
                "url": lambda: gateway.url,
                "payload": body(cache=False),
                "headers": auth,
                "expect": b"x-eco-cache: miss",
            },
            "cache hit": {
                "url": lambda: gateway.url,
                "payload": body(temperature=0),
                "headers": auth,
                "expect": b"x-eco-cache: hit",
            },
            "health": {"url": lambda: gateway.url, "path": "/health"},
        }
        wide: dict[str, list[Figure]] = {name: [] for name in cases}
        single: dict[str, list[Figure]] = {name: [] for name in cases}
        direct: list[Figure] = []
        try:
            baseline.start(timeout_s=60)
            gateway.start(timeout_s=60)
            # warm-up (and the first cache fill; a miss answer is fine for it)
            for case in cases.values():
                options = {k: v for k, v in case.items() if k not in ("url", "path", "expect")}
                asyncio.run(
                    load(case["url"](), case.get("path", PATH), 1.0, args.connections, **options)
                )
            for _ in range(args.rounds):
                direct.append(asyncio.run(in_process(args.seconds / 2)))
                for name, case in cases.items():
                    options = {k: v for k, v in case.items() if k not in ("url", "path")}
                    target, path = case["url"](), case.get("path", PATH)
                    wide[name].append(
                        asyncio.run(load(target, path, args.seconds, args.connections, **options))
                    )
                    single[name].append(
                        asyncio.run(load(target, path, args.seconds / 2, 1, **options))
                    )
        finally:
            gateway.terminate()
            baseline.terminate()
            cleanup(url, prefix)
    return report(args, median(direct), {n: median(f) for n, f in wide.items()}, single)


def report(
    args: argparse.Namespace,
    direct: Figure,
    wide: dict[str, Figure],
    singles: dict[str, list[Figure]],
) -> bool:
    single = {name: median(figures) for name, figures in singles.items()}
    added = single["gateway"].p50_ms - direct.p50_ms
    ratio = wide["gateway"].rps / wide["minimal"].rps
    passed = added <= ADDED_P50_TARGET_MS and ratio >= THROUGHPUT_TARGET
    print(f"{args.rounds} rounds of {args.seconds:g} s; wide = {args.connections} connections")
    print(f"{'case':28} {'req/s':>9} {'p99 ms':>8} | {'1 conn p50 ms':>13}")
    print(
        f"{'(a) in-process offline':28} {direct.rps:9,.0f} {direct.p99_ms:8.2f} | "
        f"{direct.p50_ms:13.3f}"
    )
    labels = {
        "minimal": "(b) minimal FastAPI",
        "gateway": "(c) gateway, offline",
        "cache hit": "(d) gateway, cache hits",
        "health": "(e) gateway GET /health",
    }
    for name, label in labels.items():
        w, s = wide[name], single[name]
        print(f"{label:28} {w.rps:9,.0f} {w.p99_ms:8.2f} | {s.p50_ms:13.3f}")
    hit_ratio = wide["cache hit"].rps / wide["minimal"].rps
    print(
        f"gateway added p50, 1 conn:   {added:9.3f} ms  (c - a; target <= "
        f"{ADDED_P50_TARGET_MS:g} ms)  {'ok' if added <= ADDED_P50_TARGET_MS else 'MISSED'}"
    )
    print(
        f"ratio gateway/minimal:       {ratio:9.3f}     (c / b; target >= "
        f"{THROUGHPUT_TARGET:g})  {'ok' if ratio >= THROUGHPUT_TARGET else 'MISSED'}"
    )
    print(f"ratio cache-hit/minimal:     {hit_ratio:9.3f}     (d / b)")
    print(f"ratio gateway/in-process:    {wide['gateway'].rps / direct.rps:9.3f}     (c / a)")
    print(
        f"ratio gateway/health:        {wide['gateway'].rps / wide['health'].rps:9.3f}     "
        "(c / e: the gateway's own work)"
    )
    print(f"result:                      {'PASS' if passed else 'FAIL'}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description="Gateway overhead against minimal FastAPI.")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sys.exit(0 if run(args) else 1)


if __name__ == "__main__":
    main()

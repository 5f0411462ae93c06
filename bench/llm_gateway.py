"""LLM gateway overhead: requests/s and p99 through the gateway (offline provider, and cache
hits) next to calling the offline provider in-process in the same run.

    uv run python bench/llm_gateway.py [--requests 1500] [--concurrency 8]

Redis: `ECO_BENCH_REDIS_URL` (or `ECO_REDIS_URL`), else an embedded redis-server. The gateway
runs as its own uvicorn process; its keys get a random prefix and are deleted afterwards.

(a) in-process: `OfflineProvider.chat` on a summarize task, one call after another.
(b) gateway:    the same request over HTTP, `cache: false`, `concurrency` clients at once.
(c) cache hit:  the same request with `temperature: 0` (answered from Redis after the first).
(d) floor:      `GET /health` of the same process, the same way: what any service on the
                shared app factory costs per request (HTTP, middleware, tracing, metrics).
The ratio gateway/in-process is the gateway's overhead on the offline provider; gateway/floor
shows how much of it is the gateway's own work (detector, routing, accounting in Redis).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
import structlog
from _harness import key_material

from eco_llm_gateway.protocol import TaskSpec
from eco_llm_gateway.providers import Message, OfflineProvider, ProviderRequest
from eco_llm_gateway.settings import ProviderConfig
from eco_shared.redis_server import RedisServer
from eco_shared.testing import ServiceProcess
from eco_shared.testing.auth import token

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


def body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "offline/extractive-1",
        "messages": [
            {"role": "system", "content": json.dumps(SPEC)},
            {"role": "user", "content": TEXT},
        ],
        **extra,
    }


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] * 1000 if len(samples) > 1 else 0.0


async def bench_in_process(requests: int) -> tuple[float, float]:
    provider = OfflineProvider(ProviderConfig(name="offline", kind="offline"))
    request = ProviderRequest(
        model="extractive-1",
        messages=(Message("system", json.dumps(SPEC)), Message("user", TEXT)),
        task=TaskSpec.model_validate(SPEC),
        json_mode=True,
    )
    latencies = []
    start = time.perf_counter()
    for _ in range(requests):
        t = time.perf_counter()
        await provider.chat(request)
        latencies.append(time.perf_counter() - t)
    return requests / (time.perf_counter() - start), p99(latencies)


async def bench_gateway(
    url: str,
    requests: int,
    concurrency: int,
    payload: dict[str, Any] | None,
    expect_hit: bool,
    path: str = "/v1/chat/completions",
) -> tuple[float, float]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # one token for the whole run: each token's signature is checked once, then cached
    headers = {"Authorization": f"Bearer {token('llm-gateway', ('gateway:chat',))}"}
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=30, headers=headers
    ) as client:

        async def send() -> httpx.Response:
            if payload is None:
                return await client.get(path)
            return await client.post(path, json=payload)

        (await send()).raise_for_status()
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                t = time.perf_counter()
                response = await send()
                latencies.append(time.perf_counter() - t)
                if response.status_code != 200:
                    raise RuntimeError(f"gateway answered {response.status_code}: {response.text}")
                if expect_hit and response.headers.get("x-eco-cache") != "hit":
                    raise RuntimeError("expected a cache hit")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return requests / elapsed, p99(latencies)


async def cleanup(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    url = os.environ.get("ECO_BENCH_REDIS_URL") or os.environ.get("ECO_REDIS_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as server:
        print(f"embedded redis-server {server.url}")
        yield server.url


def main() -> None:
    parser = argparse.ArgumentParser(description="Gateway overhead against in-process offline.")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    with key_material(), redis_url() as url, tempfile.TemporaryDirectory() as logs:
        env = {
            "ECO_REDIS_URL": url,
            "ECO_REDIS_PREFIX": prefix,
            "ECO_LOG_LEVEL": "WARNING",
            "ECO_LLM_GATEWAY_REGISTER_WITH_DISCOVERY": "false",
            "ECO_LLM_GATEWAY_RATE_LIMIT_CAPACITY": "0",
        }
        gateway = ServiceProcess(
            "eco_llm_gateway.main:create_app",
            env=env,
            port_env="ECO_LLM_GATEWAY_PORT",
            log_dir=Path(logs),
        )
        gateway.start(timeout_s=60)
        try:
            direct_rps, direct_p99 = asyncio.run(bench_in_process(args.requests))
            gw_rps, gw_p99 = asyncio.run(
                bench_gateway(
                    gateway.url, args.requests, args.concurrency, body(cache=False), False
                )
            )
            hit_rps, hit_p99 = asyncio.run(
                bench_gateway(
                    gateway.url, args.requests, args.concurrency, body(temperature=0), True
                )
            )
            floor_rps, floor_p99 = asyncio.run(
                bench_gateway(gateway.url, args.requests, args.concurrency, None, False, "/health")
            )
        finally:
            gateway.terminate()
            asyncio.run(cleanup(url, prefix))
    print(f"requests per case:          {args.requests} (gateway: {args.concurrency} concurrent)")
    print(f"in-process offline provider: {direct_rps:10,.0f} req/s   p99 {direct_p99:8.2f} ms")
    print(f"gateway, offline provider:   {gw_rps:10,.0f} req/s   p99 {gw_p99:8.2f} ms")
    print(f"gateway, cache hits:         {hit_rps:10,.0f} req/s   p99 {hit_p99:8.2f} ms")
    print(f"floor: GET /health:          {floor_rps:10,.0f} req/s   p99 {floor_p99:8.2f} ms")
    print(f"ratio gateway/in-process:    {gw_rps / direct_rps:10.3f}")
    print(f"ratio gateway/floor:         {gw_rps / floor_rps:10.3f}")
    print(f"ratio cache-hit/in-process:  {hit_rps / direct_rps:10.3f}")


if __name__ == "__main__":
    main()

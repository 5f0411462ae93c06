"""What the benchmarks share: a keep-alive HTTP load generator and its figures, Redis, key
material, CPU time of a process, quiet logs and clean-up.

Not a benchmark itself (`make bench` skips files starting with `_`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
import structlog

from eco_shared.redis_server import RedisServer


@dataclass(frozen=True, slots=True)
class Figure:
    """Requests/s and latency percentiles of one load phase."""

    rps: float
    p50_ms: float
    p99_ms: float


def figure(count: int, elapsed: float, latencies: list[float]) -> Figure:
    """The `Figure` of `count` requests in `elapsed` seconds with these latencies (s)."""
    cuts = statistics.quantiles(latencies, n=100)
    return Figure(count / elapsed, cuts[49] * 1000, cuts[98] * 1000)


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def quiet_logs() -> None:
    """Only warnings and errors from the code under test: its info lines are not measured."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("alembic").setLevel(logging.WARNING)


async def _connection(
    host: str, port: int, request: bytes, until: float, latencies: list[float], expect: bytes
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer: {head[:300]!r}")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if expect and expect not in head.lower():
                raise RuntimeError(f"expected {expect!r} in {head[:300]!r}")
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def load(
    url: str,
    path: str,
    seconds: float,
    connections: int,
    headers: Mapping[str, str] | None = None,
    *,
    payload: dict[str, Any] | None = None,
    expect: bytes = b"",
) -> Figure:
    """`connections` keep-alive loops for `seconds`: GET `path`, or POST `payload` as JSON.

    Every answer must be 200 (and hold `expect` in its head, lower-cased). Raw sockets from
    one asyncio process: httpx would be the bottleneck on a small machine.
    """
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    if payload is None:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
    else:
        raw = json.dumps(payload).encode()
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
        ).encode() + raw
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(
        *(_connection(host, port, request, until, latencies, expect) for _ in range(connections))
    )
    return figure(len(latencies), time.perf_counter() - started, latencies)


@contextlib.contextmanager
def key_material() -> Iterator[Path]:
    """Key material for one run (`ECO_AUTH_DIR`, inherited by every server it spawns),
    deleted afterwards: it holds private signing keys."""
    from eco_shared.testing.auth import AUTH_DIR_ENV, session_material

    with tempfile.TemporaryDirectory() as tmp:
        os.environ[AUTH_DIR_ENV] = tmp
        try:
            yield session_material().directory
        finally:
            os.environ.pop(AUTH_DIR_ENV, None)


@contextlib.contextmanager
def redis_url(given: str | None = None) -> Iterator[str]:
    """`given`, else `ECO_BENCH_REDIS_URL`, else an embedded redis-server for the run."""
    url = given or os.environ.get("ECO_BENCH_REDIS_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as server:
        print(f"embedded redis-server {server.url}")
        yield server.url


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux `/proc`).

    CPU per request hardly depends on what else the machine runs, where requests/s does:
    the benches print it beside the rates.
    """
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cleanup(url: str, prefix: str) -> None:
    """Delete every key under `prefix`."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()

"""Liveness, readiness with dependency checks, and the Prometheus `/metrics` of every service.

Request metrics are counted by `eco_shared.serving.ServingMiddleware`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from eco_shared.auth._fastapi import PUBLIC

Check = Callable[[], Awaitable[Any]]


@dataclass
class _Registered:
    name: str
    check: Check
    required: bool
    timeout_s: float


class CheckResult(BaseModel):
    status: str  # "pass" | "fail"
    required: bool
    duration_ms: float
    error: str | None = None


class Liveness(BaseModel):
    status: str
    service: str
    version: str
    instance_id: str | None
    uptime_s: float


class Readiness(BaseModel):
    status: str  # "ready" | "not_ready"
    service: str
    checks: dict[str, CheckResult]


class HealthRegistry:
    """The dependency checks behind `/health/ready` (Redis, database, upstreams)."""

    def __init__(
        self,
        service: str,
        version: str,
        instance_id: str | None = None,
        default_timeout_s: float = 2.0,
    ) -> None:
        self.service = service
        self.version = version
        self.instance_id = instance_id
        self.default_timeout_s = default_timeout_s
        self.started = time.monotonic()
        self._checks: dict[str, _Registered] = {}

    def add_check(
        self, name: str, check: Check, *, required: bool = True, timeout_s: float | None = None
    ) -> None:
        """Register a check; it passes when the awaitable returns without raising in time."""
        self._checks[name] = _Registered(name, check, required, timeout_s or self.default_timeout_s)

    def liveness(self) -> Liveness:
        """Report that the process answers, with version and uptime."""
        return Liveness(
            status="ok",
            service=self.service,
            version=self.version,
            instance_id=self.instance_id,
            uptime_s=round(time.monotonic() - self.started, 3),
        )

    async def _run_one(self, item: _Registered) -> CheckResult:
        started = time.perf_counter()
        error: str | None = None
        try:
            await asyncio.wait_for(item.check(), item.timeout_s)
        except TimeoutError:
            error = f"timed out after {item.timeout_s}s"
        except Exception as exc:  # a failing dependency is a result, not a crash
            error = f"{type(exc).__name__}: {exc}"[:500]
        return CheckResult(
            status="fail" if error else "pass",
            required=item.required,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            error=error,
        )

    async def readiness(self) -> Readiness:
        """Run every check concurrently; not ready when a required one fails."""
        items = list(self._checks.values())
        results = await asyncio.gather(*(self._run_one(item) for item in items))
        checks = {item.name: result for item, result in zip(items, results, strict=True)}
        ready = all(r.status == "pass" for r in checks.values() if r.required)
        return Readiness(
            status="ready" if ready else "not_ready", service=self.service, checks=checks
        )


def redis_check(client: Any) -> Check:
    """A check that PINGs a redis.asyncio client."""

    async def check() -> None:
        await client.ping()

    return check


def health_router() -> APIRouter:
    """`GET /health`, `GET /health/ready` and `GET /metrics` for the app's state."""
    router = APIRouter(tags=["health"], dependencies=[PUBLIC])

    @router.get("/health", response_model=Liveness, summary="Liveness")
    async def health(request: Request) -> Liveness:
        registry: HealthRegistry = request.app.state.eco.health
        return registry.liveness()

    @router.get(
        "/health/ready",
        response_model=Readiness,
        summary="Readiness of the service and its dependencies",
        responses={503: {"model": Readiness, "description": "A required dependency fails"}},
    )
    async def ready(request: Request) -> Response:
        registry: HealthRegistry = request.app.state.eco.health
        report = await registry.readiness()
        status = 200 if report.status == "ready" else 503
        return JSONResponse(report.model_dump(), status_code=status)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        registry: CollectorRegistry = request.app.state.eco.metrics
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router

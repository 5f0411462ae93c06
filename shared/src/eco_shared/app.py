"""`create_service_app`: the one app factory every service is built on.

It wires settings, logging, telemetry, health and metrics, problem+json errors, and one
pure-ASGI layer (`eco_shared.serving`) for server spans, request ids, a body-size limit, a
cap on requests in flight (503 + Retry-After beyond it) and request metrics; and a lifespan
that owns the Redis client, the event bus, the HTTP client and self-registration with
discovery.

Stopping (SIGTERM, or Ctrl-C): at the first signal the service stops being ready and
deregisters, and `state.stopping` is set so long-running work can finish its current step;
uvicorn drains the open requests; then the service's own lifespan closes what it opened
(its workers finish or checkpoint), the bus consumers finish their handlers, and the
shared resources close. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import redis.asyncio as aioredis
import structlog
from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CollectorRegistry

from eco_shared._signals import StopSignals
from eco_shared.auth import ServiceAuth, auth_openapi, check_routes_declared
from eco_shared.auth._sync import SyncServiceTokens
from eco_shared.bus import EventBus
from eco_shared.directory import ServiceDirectory
from eco_shared.health import HealthRegistry, health_router, redis_check
from eco_shared.http import ServiceClient
from eco_shared.logging import configure_logging
from eco_shared.logship import LogShipper
from eco_shared.overload import declare_overload
from eco_shared.problems import install_problem_handlers, problem_openapi
from eco_shared.registration import Registrar
from eco_shared.serving import ServingMiddleware
from eco_shared.settings import ServiceSettings
from eco_shared.telemetry import fastapi_telemetry, setup_telemetry

log = structlog.get_logger(__name__)

R = TypeVar("R")


class ServiceState:
    """What a running service owns; reached from routes as `request.app.state.eco`.

    The shared resources are properties; what the service's own lifespan yields (its typed
    `Resources` class) is `resources`, read back with `resources_as(Resources)`.
    """

    def __init__(self, settings: ServiceSettings, auth: ServiceAuth | None = None) -> None:
        self.settings = settings
        self.health = HealthRegistry(
            settings.service_name,
            settings.service_version,
            settings.instance_id,
            default_timeout_s=settings.readiness_timeout_s,
        )
        self.metrics = CollectorRegistry()
        self.resources: object | None = None
        self.registrar: Registrar | None = None
        # who may call, and this service's own tokens (DESIGN.md "Identity and access")
        self.auth = auth or ServiceAuth(settings)
        self._redis: aioredis.Redis | None = None
        self._bus: EventBus | None = None
        self._http: ServiceClient | None = None
        self._directory: ServiceDirectory | None = None
        # set when the service is told to stop: long-running work finishes its step and ends
        self.stopping = asyncio.Event()
        self._early_stop: asyncio.Task[None] | None = None

    def request_stop(self) -> None:
        """Begin stopping: not ready any more, deregistered at once (idempotent)."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        log.info("service_stopping", instance_id=self.settings.instance_id)
        if self.registrar is not None:
            self._early_stop = asyncio.get_running_loop().create_task(self.registrar.stop())

    async def _accepting(self) -> None:
        if self.stopping.is_set():
            raise RuntimeError("the service is stopping")

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise RuntimeError("the service is not started")
        return self._redis

    @property
    def bus(self) -> EventBus:
        if self._bus is None:
            raise RuntimeError("the service is not started")
        return self._bus

    @property
    def http(self) -> ServiceClient:
        if self._http is None:
            raise RuntimeError("the service is not started")
        return self._http

    @property
    def directory(self) -> ServiceDirectory:
        """Other services by name; `state.http` also takes `eco://<service>/<path>` URLs."""
        if self._directory is None:
            raise RuntimeError("the service is not started")
        return self._directory

    def resources_as(self, kind: type[R]) -> R:
        """The service's own resources, checked to be of `kind`."""
        if not isinstance(self.resources, kind):
            raise RuntimeError(f"the service is not started (no {kind.__name__})")
        return self.resources


ServiceLifespan = Callable[[FastAPI, ServiceState], AbstractAsyncContextManager[Any]]


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str | None = None,
    description: str = "",
    routers: Sequence[APIRouter] = (),
    lifespan: ServiceLifespan | None = None,
    registration_meta: dict[str, Any] | None = None,
    configure_process: bool = True,
    auth_factory: Callable[[ServiceSettings], ServiceAuth] | None = None,
) -> FastAPI:
    """Build a FastAPI app with everything a service of the ecosystem needs.

    `lifespan(app, state)` is the service's own resource manager: it runs after the shared
    resources are open and before registration, may add readiness checks to
    `state.health`, and yields the service's typed resources (kept as `state.resources`).
    Set `configure_process=False` to leave logging and tracing alone (tests that build
    several apps in one process). `auth_factory` builds the service's `ServiceAuth` (the
    issuer verifies with its own keys); by default it is built from the settings.
    """
    state = ServiceState(settings, auth_factory(settings) if auth_factory else None)
    # log records go to eco.logs only from an app that owns the process's logging
    shipper = (
        LogShipper(
            settings.service_name,
            instance_id=settings.instance_id,
            prefix=settings.redis_prefix,
            registry=state.metrics,
        )
        if configure_process
        else None
    )

    @contextlib.asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_routes_declared(app)
        state._redis = aioredis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        state.health.add_check("redis", redis_check(state._redis))
        state._bus = EventBus(state._redis, settings.service_name, prefix=settings.redis_prefix)
        state.auth.start(state._redis)
        state.auth.on_denied = _audit_denied(state)
        state._http = ServiceClient(service_name=settings.service_name, tokens=state.auth.tokens)
        state._directory = ServiceDirectory(settings.discovery_url, state._http)
        state._directory.bind()
        if shipper is not None:
            shipper.start(state._redis)
        state.health.add_check("accepting", state._accepting)
        loop = asyncio.get_running_loop()
        signals = StopSignals(lambda: loop.call_soon_threadsafe(state.request_stop))
        if configure_process:
            signals.install()
        try:
            async with contextlib.AsyncExitStack() as stack:
                if lifespan is not None:
                    state.resources = await stack.enter_async_context(lifespan(app, state))
                if settings.register_with_discovery:
                    state.registrar = Registrar(
                        settings, meta=registration_meta, tokens=state.auth.tokens
                    )
                    state.auth.bind_registration(state.registrar.registered)
                    state.registrar.start()
                # What start-up built lives as long as the process: out of the collector's
                # way, so a full collection does not walk it again and again.
                gc.freeze()
                log.info(
                    "service_started",
                    base_url=settings.base_url,
                    instance_id=settings.instance_id,
                    version=settings.service_version,
                )
                try:
                    yield
                finally:
                    # no new work from callers first, then the service finishes its own
                    state.request_stop()
                    if state.registrar is not None:
                        await state.registrar.stop()
            state.resources = None
            # consumers the service left running finish their handlers and ACK
            await state._bus.close()
            await state._directory.stop()
            await state._http.close()
            await state.auth.aclose()
            log.info("service_stopped", instance_id=settings.instance_id)
            # last, so the records of the whole shutdown reach eco.logs
            if shipper is not None:
                await shipper.stop()
            await state._redis.aclose()
        finally:
            signals.restore()

    if configure_process:
        configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
        setup_telemetry(
            settings.service_name,
            service_version=settings.service_version,
            instance_id=settings.instance_id,
            otlp_endpoint=settings.otlp_endpoint,
            discovery_url=settings.discovery_url,
            # the exporter's own tokens: a background thread, so a blocking source
            tokens=SyncServiceTokens.from_settings(settings),
        )

    app = FastAPI(
        title=title or settings.service_name,
        version=settings.service_version,
        description=description,
        lifespan=_lifespan,
        # FastAPI's own telemetry off: the server spans are the serving layer's
        telemetry=fastapi_telemetry(),
    )
    app.state.eco = state
    _problem_openapi(app)
    install_problem_handlers(app)
    app.include_router(health_router())
    for router in routers:
        app.include_router(router)
    # request id, body limit, in-flight cap and metrics: one pure-ASGI layer
    app.add_middleware(
        ServingMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_inflight=settings.max_inflight_requests,
        registry=state.metrics,
    )
    return app


def _audit_denied(state: ServiceState) -> Any:
    """Report a refused request on `eco.audit` (who, what, why; never the token)."""

    async def report(request: Request, reason: str, detail: str) -> None:
        await state.bus.publish(
            "auth.denied",
            {
                "service": state.settings.service_name,
                "method": request.method,
                "path": request.url.path,
                "reason": reason,
                "detail": detail[:200],
                "client": request.client.host if request.client else None,
            },
            stream="eco.audit",
        )

    return report


def _problem_openapi(app: FastAPI) -> None:
    """Generate the OpenAPI document once, finished by `problem_openapi` and the 503s."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = auth_openapi(problem_openapi(generate()))
            declare_overload(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

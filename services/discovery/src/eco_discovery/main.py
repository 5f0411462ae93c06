"""The discovery service: app factory and how `eco up` runs it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from eco_discovery.api import auth, capabilities, instances, keys, services, watch
from eco_discovery.repository import CapabilityStore, EventFeed, Registry
from eco_discovery.service import DiscoveryService
from eco_discovery.service.issuer import IssuerRuntime
from eco_discovery.service.issuer._policy import SCOPES
from eco_discovery.settings import DiscoverySettings
from eco_discovery.state import Resources
from eco_shared.app import ServiceLifespan, ServiceState, create_service_app
from eco_shared.bus import EVENTS
from eco_shared.problems import Unavailable, problem_response
from eco_shared.services import ServiceSpec

SERVICE = ServiceSpec(
    name="discovery",
    app="eco_discovery.main:create_app",
    port=5045,
    env_prefix="ECO_DISCOVERY_",
    order=0,
)


def issuer_lifespan(runtime: IssuerRuntime) -> ServiceLifespan:
    """Discovery's lifespan, with the issuer `runtime` built for this app."""

    def lifespan(app: FastAPI, state: ServiceState) -> AbstractAsyncContextManager[Resources]:
        return _lifespan(state, runtime)

    return lifespan


@contextlib.asynccontextmanager
async def _lifespan(state: ServiceState, runtime: IssuerRuntime) -> AsyncIterator[Resources]:
    """Open the registry, the issuer and the probe client; run the reaper, prober and own
    lease; make sure the admin key exists."""
    settings = state.settings
    assert isinstance(settings, DiscoverySettings)
    # Probes get a client of their own: one attempt each, no breaker, no retries, so a
    # probe reports what the instance did, not what the resilience layer made of it.
    probe_client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.check_timeout_s),
        limits=httpx.Limits(max_connections=settings.probe_concurrency),
        # probes read public routes only (health, OpenAPI): no token goes with them
        headers={"User-Agent": f"eco-{settings.service_name}-probe"},
    )
    base = settings.key("discovery:")
    registry = Registry(state.redis, base)
    caps = CapabilityStore(state.redis, base)
    events = EventFeed(state.redis, state.bus.key(EVENTS), block_ms=settings.watch_block_ms)
    discovery = DiscoveryService(
        settings,
        registry=registry,
        capabilities=caps,
        events=events,
        bus=state.bus,
        probe_client=probe_client,
    )
    issuer = runtime.open(
        state.redis, state.bus, discovery.lease_of, state.auth.verifier.forget_key
    )
    assert runtime.api_keys is not None
    state.health.add_check(
        "self_preservation", discovery.reaper.self_preservation_check, required=False
    )
    await runtime.bootstrap()
    discovery.start()
    try:
        yield Resources(
            registry=registry,
            capabilities=caps,
            events=events,
            probe_client=probe_client,
            discovery=discovery,
            issuer=issuer,
            keys=runtime.api_keys,
            signing_keys=runtime.keys,
        )
    finally:
        await discovery.stop()
        await runtime.close()
        await probe_client.aclose()


_REGISTRY_DOWN = Unavailable(
    "The registry's store (Redis) is unavailable; retry shortly.",
    title="Registry unavailable",
    retry_after_s=1,
)


async def _redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
    down = _REGISTRY_DOWN
    return problem_response(
        request, down.status, down.detail, title=down.title, type=down.type, headers=down.headers
    )


def build_app(settings: DiscoverySettings, *, configure_process: bool = True) -> FastAPI:
    """The discovery app for the given settings (and the issuer it hosts)."""
    runtime = IssuerRuntime(settings)
    app = create_service_app(
        settings,
        title="discovery",
        description="The registry (instances, leases, health and capabilities) and the "
        "token issuer (JWKS, tokens, introspection, API keys).",
        routers=[
            instances.router,
            services.router,
            capabilities.router,
            watch.router,
            auth.router,
            keys.router,
        ],
        lifespan=issuer_lifespan(runtime),
        configure_process=configure_process,
        auth_factory=runtime.service_auth,
    )
    # Every route reads Redis: its outage is one 503 with Retry-After, never a 500.
    app.add_exception_handler(RedisError, _redis_unavailable)
    app.add_exception_handler(ConnectionError, _redis_unavailable)
    _lease_limit_openapi(app, settings.max_ttl_s)
    return app


def _lease_limit_openapi(app: FastAPI, max_ttl_s: float) -> None:
    """Show the configured lease limit as `ttl_s`'s maximum: a longer lease is a 422."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        ttl = schema["components"]["schemas"]["InstanceCreate"]["properties"]["ttl_s"]
        for branch in ttl.get("anyOf", [ttl]):
            if branch.get("type") == "number":
                branch["maximum"] = max_ttl_s
        # the token endpoint, as OAuth describes it (no route uses this scheme directly)
        schemes = schema["components"].setdefault("securitySchemes", {})
        schemes["issuer"] = {
            "type": "oauth2",
            "description": "Tokens from this issuer: client credentials for services, "
            "RFC 8693 token exchange for API keys, run grants and Kubernetes tokens.",
            "flows": {"clientCredentials": {"tokenUrl": "/auth/token", "scopes": SCOPES}},
        }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app() -> FastAPI:
    """uvicorn factory: settings from the environment."""
    return build_app(DiscoverySettings())

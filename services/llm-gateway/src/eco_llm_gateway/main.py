"""The llm-gateway service: app factory and how `eco up` runs it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import FastAPI

from eco_llm_gateway.api import chat, models, providers, usage
from eco_llm_gateway.openai_errors import install_openai_errors, openai_openapi
from eco_llm_gateway.providers import build_provider, provider_class
from eco_llm_gateway.repository import GatewayRepository
from eco_llm_gateway.service import Gateway, request_schema
from eco_llm_gateway.settings import LlmGatewaySettings
from eco_llm_gateway.state import Resources
from eco_shared.app import ServiceState, create_service_app
from eco_shared.services import ServiceSpec

SERVICE = ServiceSpec(
    name="llm-gateway",
    app="eco_llm_gateway.main:create_app",
    port=5055,
    env_prefix="ECO_LLM_GATEWAY_",
    order=20,
)

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI, state: ServiceState) -> AsyncIterator[Resources]:
    """Build the providers on the shared HTTP client and the gateway on the shared Redis."""
    settings = state.settings
    assert isinstance(settings, LlmGatewaySettings)
    built = {config.name: build_provider(config, state.http) for config in settings.providers}
    repository = GatewayRepository(state.redis, settings)
    gateway = Gateway(settings, built, repository)
    log.info(
        "providers_configured",
        providers=[f"{p.name}:{p.kind}{':local' if p.local else ''}" for p in built.values()],
        routing=[f"{p}/{m}" for p, m in settings.preference()],
    )
    try:
        yield Resources(providers=built, repository=repository, gateway=gateway)
    finally:
        await gateway.drain()


def build_app(settings: LlmGatewaySettings, *, configure_process: bool = True) -> FastAPI:
    """The gateway app for the given settings."""
    app = create_service_app(
        settings,
        title="llm-gateway",
        description="One API over LLM providers: routing, privacy, cache and accounting.",
        routers=[chat.router, models.router, providers.router, usage.router],
        lifespan=lifespan,
        registration_meta={
            "providers": [
                {"name": p.name, "kind": p.kind, "local": p.local, "models": p.models}
                for p in settings.providers
            ]
        },
        configure_process=configure_process,
    )
    install_openai_errors(app)
    generate = app.openapi
    honoured = {p for c in settings.providers for p in provider_class(c.kind).honours}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = openai_openapi(generate())
            request_schema(
                schema["components"]["schemas"]["ChatCompletionRequest"],
                honoured,
                max_messages=settings.max_messages,
                max_output_tokens=settings.max_output_tokens,
                max_prompt_chars=settings.max_prompt_chars,
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_app() -> FastAPI:
    """uvicorn factory: settings from the environment."""
    return build_app(LlmGatewaySettings())

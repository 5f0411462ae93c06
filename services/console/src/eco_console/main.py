"""The console service: app factory and how `eco up` runs it.

Its routes are pages for a browser, so they are `PUBLIC` at the level of bearer tokens:
the console checks its own session cookie (`deps.signed_in`), CSRF tokens, `Host` and
`Origin` (`security.ConsoleGuard`), and calls every other service with the signed-in
user's tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from eco_shared.app import ServiceState, create_service_app
from eco_shared.services import ServiceSpec

from .api import (
    documents,
    live,
    live_parts,
    pages,
    prompts,
    runs,
    session,
    static,
    traces,
    usage,
)
from .api._render import environment, render
from .deps import PageError, SignInRequired
from .repository import SessionRepository
from .security import ConsoleGuard
from .service.clients import UserClients
from .settings import ConsoleSettings
from .state import Resources

SERVICE = ServiceSpec(
    name="console",
    app="eco_console.main:create_app",
    port=5030,
    env_prefix="ECO_CONSOLE_",
    order=60,
)


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI, state: ServiceState) -> AsyncIterator[Resources]:
    """Open the session store on the shared Redis and the per-user clients."""
    settings = state.settings
    assert isinstance(settings, ConsoleSettings)
    sessions = SessionRepository(
        state.redis,
        settings.key("console:session:"),
        idle_s=settings.session_idle_s,
        absolute_s=settings.session_absolute_s,
    )
    clients = UserClients(
        settings.issuer_url,
        settings.discovery_url,
        state.directory,
        capacity=settings.user_clients,
    )
    try:
        yield Resources(sessions=sessions, clients=clients, templates=environment())
    finally:
        await clients.aclose()


def build_app(
    settings: ConsoleSettings,
    *,
    configure_process: bool = True,
) -> FastAPI:
    """The console app for the given settings."""
    app = create_service_app(
        settings,
        description=(
            "The web console: the whole ecosystem in one page, server-rendered over the adapters."
        ),
        routers=[
            session.router,
            pages.router,
            runs.router,
            documents.router,
            traces.router,
            prompts.router,
            usage.router,
            live.router,
            live_parts.router,
            static.router,
        ],
        lifespan=lifespan,
        configure_process=configure_process,
    )

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        if exc.fragment:
            return Response("Sign in first.", status_code=401, media_type="text/plain")
        return RedirectResponse(f"/signin?next={exc.next_url}", status_code=303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return render(
            request, "error.html", status_code=exc.status, title=exc.title, detail=exc.detail
        )

    app.add_middleware(ConsoleGuard, hosts=settings.hosts())
    return app


def create_app() -> FastAPI:
    """uvicorn factory: settings from the environment."""
    return build_app(ConsoleSettings())

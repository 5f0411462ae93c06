"""The prompt-store service: app factory and how `eco up` runs it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from eco_prompt_store import repository as repo
from eco_prompt_store.api import experiments, labels, lint, prompts, variations, watch
from eco_prompt_store.migrations import PACKAGE, VERSION_TABLE
from eco_prompt_store.service import OUTCOMES_GROUP, PromptStoreService, Watch
from eco_prompt_store.settings import PromptStoreSettings
from eco_prompt_store.state import Resources
from eco_shared.app import ServiceState, create_service_app
from eco_shared.bus import EVENTS
from eco_shared.db import create_engine, database_check, ensure_sqlite_dir, migrate
from eco_shared.outbox import OutboxRelay
from eco_shared.services import ServiceSpec

log = structlog.get_logger(__name__)

SERVICE = ServiceSpec(
    name="prompt-store",
    app="eco_prompt_store.main:create_app",
    port=5110,
    env_prefix="ECO_PROMPT_STORE_",
    order=60,
)


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI, state: ServiceState) -> AsyncIterator[Resources]:
    """Migrate the database, open the engine, relay the outbox, and serve until shutdown."""
    settings = state.settings
    assert isinstance(settings, PromptStoreSettings)
    ensure_sqlite_dir(settings.db_url)
    engine = create_engine(settings.db_url)
    try:
        await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
        log.info("database_migrated", backend=engine.dialect.name)
        state.health.add_check("database", database_check(engine))
        outbox = OutboxRelay(engine, repo.outbox, state.bus)
        outbox.start()
        try:
            feed = repo.EventFeed(
                state.redis, state.bus.key(EVENTS), block_ms=settings.watch_block_ms
            )
            service = PromptStoreService(engine, outbox, settings)
            # experiment outcomes: run.completed / run.feedback, ACKed once recorded
            outcomes = state.bus.subscribe(
                EVENTS, OUTCOMES_GROUP, service.handle_run_events, batch_handler=True
            )
            outcomes.start()
            try:
                yield Resources(engine=engine, outbox=outbox, service=service, watch=Watch(feed))
            finally:
                await outcomes.stop()
        finally:
            await outbox.stop()
    finally:
        await engine.dispose()


def build_app(settings: PromptStoreSettings, *, configure_process: bool = True) -> FastAPI:
    """The prompt-store app for the given settings."""
    return create_service_app(
        settings,
        title="prompt-store",
        description="Versioned, content-addressed prompts with labels, experiments and outcomes.",
        # the watch feed and by-sha256 before `/prompts/{name}`, which would take their paths
        routers=[
            watch.router,
            prompts.router,
            labels.router,
            lint.router,
            experiments.router,
            experiments.exposures_router,
            variations.router,
        ],
        lifespan=lifespan,
        configure_process=configure_process,
    )


def create_app() -> FastAPI:
    """uvicorn factory: settings from the environment."""
    return build_app(PromptStoreSettings())

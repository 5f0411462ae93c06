"""The orchestrator service: app factory, lifespan, and how `eco up` runs it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from eco_orchestrator._seeding import start_seeding
from eco_orchestrator.api import documents, queries, runs, runs_watch, workflows
from eco_orchestrator.checkpoints import open_checkpointer
from eco_orchestrator.events import RunEventLog
from eco_orchestrator.migrations import VERSION_TABLE
from eco_orchestrator.prompts import seeds
from eco_orchestrator.repository import RunRepository, outbox
from eco_orchestrator.runner import RunWorker
from eco_orchestrator.service import Orchestrator
from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.state import Resources
from eco_shared.adapters.prompt_store import PromptStoreAdapter
from eco_shared.app import ServiceState, create_service_app
from eco_shared.db import create_engine, database_check, ensure_sqlite_dir, migrate
from eco_shared.outbox import OutboxRelay
from eco_shared.prompts.client import PromptClient
from eco_shared.services import ServiceSpec
from eco_shared.tools import ToolRegistry

log = structlog.get_logger(__name__)

SERVICE = ServiceSpec(
    name="orchestrator",
    app="eco_orchestrator.main:create_app",
    port=5099,
    env_prefix="ECO_ORCHESTRATOR_",
    order=40,
)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI, state: ServiceState) -> AsyncIterator[Resources]:
    """The run store (migrated), its outbox relay (publishing the staged `run.*` events),
    the checkpointer, the tools, the prompt client (seeding the store in the background)
    and the run workers."""
    settings = state.settings
    assert isinstance(settings, OrchestratorSettings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_sqlite_dir(settings.run_database_url())
    engine = create_engine(settings.run_database_url())
    tools = ToolRegistry(state.http, state.directory)
    prompt_store = PromptStoreAdapter(state.http, state.directory)
    prompts = PromptClient(
        prompt_store,
        snapshot_path=settings.prompt_snapshot_path(),
        seeds=seeds(),
        ttl_s=settings.prompt_cache_ttl_s,
        retry_s=settings.prompt_retry_s,
        fetch_timeout_s=settings.prompt_fetch_timeout_s,
    )
    seeding: asyncio.Task[dict[str, int]] | None = None
    watch: asyncio.Task[None] | None = None
    relay = OutboxRelay(engine, outbox, state.bus)
    try:
        await migrate(engine, "eco_orchestrator.migrations", version_table=VERSION_TABLE)
        log.info("run_store_ready", url=engine.url.render_as_string(hide_password=True))
        state.health.add_check("database", database_check(engine))
        relay.start()
        repo = RunRepository(engine, relay)
        events = RunEventLog(state.redis, settings.redis_prefix, settings.events_retention_s)
        watch = tools.start_watch()
        prompts.start()
        if settings.prompt_seed:
            seeding = start_seeding(prompt_store, seeds(), settings.prompt_label)
        async with open_checkpointer(settings) as checkpointer:
            log.info("checkpointer_ready", kind=type(checkpointer).__name__)
            worker = RunWorker(
                settings, state.bus, repo, events, checkpointer, tools, state.directory, prompts
            )
            await worker.start()
            # at the stop signal, not after uvicorn's drain: steps finish while requests do
            drain = asyncio.create_task(_drain_on_stop(state, worker), name="run-drain")
            try:
                yield Resources(
                    engine=engine,
                    repo=repo,
                    events=events,
                    tools=tools,
                    prompts=prompts,
                    worker=worker,
                    orchestrator=Orchestrator(worker, state.auth),
                )
            finally:
                drain.cancel()
                await worker.stop()
    finally:
        await relay.stop()  # after the workers: their last outcomes are published too
        await ToolRegistry.stop_watch(watch)
        if seeding is not None:
            seeding.cancel()
        await prompts.aclose()
        await engine.dispose()


async def _drain_on_stop(state: ServiceState, worker: RunWorker) -> None:
    await state.stopping.wait()
    worker.begin_drain()


def build_app(settings: OrchestratorSettings, *, configure_process: bool = True) -> FastAPI:
    """The orchestrator for the given settings."""
    return create_service_app(
        settings,
        title="orchestrator",
        description="Natural-language queries run as durable LangGraph workflows.",
        routers=[
            queries.router,
            runs_watch.router,
            runs.router,
            documents.router,
            workflows.router,
        ],
        lifespan=lifespan,
        configure_process=configure_process,
    )


def create_app() -> FastAPI:
    """uvicorn factory: settings from the environment."""
    return build_app(OrchestratorSettings())

"""The orchestrator service: app factory and how `eco up` runs it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from eco_orchestrator.api import documents, queries, runs
from eco_orchestrator.checkpoints import open_checkpointer
from eco_orchestrator.events import RunEventLog
from eco_orchestrator.repository import RunRepository
from eco_orchestrator.runner import RunWorker
from eco_orchestrator.service import Orchestrator
from eco_orchestrator.settings import OrchestratorSettings
from eco_shared.app import ServiceState, create_service_app
from eco_shared.db import create_engine, database_check
from eco_shared.directory import ServiceDirectory
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


def lifespan_for(settings: OrchestratorSettings):  # type: ignore[no-untyped-def]
    """The orchestrator's own resources: run store, checkpointer, tools, workers."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI, state: ServiceState) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.run_database_url())
        repo = RunRepository(engine)
        await repo.create_schema()
        log.info("run_store_ready", url=engine.url.render_as_string(hide_password=True))
        state.health.add_check("database", database_check(engine))
        events = RunEventLog(state.redis, settings.redis_prefix, settings.events_retention_s)
        directory = ServiceDirectory(settings.discovery_url, state.http)
        tools = ToolRegistry(state.http, directory)
        watch = tools.start_watch()
        try:
            async with open_checkpointer(settings) as checkpointer:
                log.info("checkpointer_ready", kind=type(checkpointer).__name__)
                worker = RunWorker(
                    settings, state.bus, repo, events, checkpointer, tools, directory
                )
                await worker.start()
                state.resources.update(
                    repo=repo,
                    events=events,
                    tools=tools,
                    directory=directory,
                    worker=worker,
                    orchestrator=Orchestrator(settings, state.bus, repo, events, worker, tools),
                )
                try:
                    yield
                finally:
                    await worker.stop()
        finally:
            await ToolRegistry.stop_watch(watch)
            await engine.dispose()

    return lifespan


def create_app(settings: OrchestratorSettings | None = None) -> FastAPI:
    """uvicorn factory: settings from the environment unless given."""
    settings = settings or OrchestratorSettings()
    return create_service_app(
        settings,
        title="orchestrator",
        description="Natural-language queries run as durable LangGraph workflows.",
        routers=[queries.router, runs.router, documents.router],
        lifespan=lifespan_for(settings),
    )

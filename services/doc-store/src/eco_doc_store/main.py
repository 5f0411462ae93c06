"""The doc-store service: app factory and how `eco up` runs it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from eco_doc_store import repository as repo
from eco_doc_store.api import documents
from eco_doc_store.bundle import Bundler
from eco_doc_store.migrations import PACKAGE, VERSION_TABLE
from eco_doc_store.openapi import exact_openapi
from eco_doc_store.service import DocStoreService
from eco_doc_store.settings import DocStoreSettings
from eco_doc_store.state import Resources
from eco_shared.adapters.log_collector import LogCollectorAdapter
from eco_shared.app import ServiceState, create_service_app
from eco_shared.db import create_engine, database_check, ensure_sqlite_dir, migrate
from eco_shared.outbox import OutboxRelay
from eco_shared.services import ServiceSpec

log = structlog.get_logger(__name__)

SERVICE = ServiceSpec(
    name="doc-store",
    app="eco_doc_store.main:create_app",
    port=5087,
    env_prefix="ECO_DOC_STORE_",
    order=20,
)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI, state: ServiceState) -> AsyncIterator[Resources]:
    """Migrate the database, open the engine, relay the outboxes (events, audit), and serve
    documents until shutdown."""
    settings = state.settings
    assert isinstance(settings, DocStoreSettings)
    ensure_sqlite_dir(settings.db_url)
    engine = create_engine(settings.db_url)
    try:
        await migrate(engine, PACKAGE, version_table=VERSION_TABLE)
        log.info("database_migrated", backend=engine.dialect.name)
        state.health.add_check("database", database_check(engine))
        outbox = OutboxRelay(engine, repo.outbox, state.bus)
        audit = OutboxRelay(engine, repo.audit_outbox, state.bus, stream=repo.AUDIT_STREAM)
        outbox.start()
        audit.start()
        try:
            doc_store = DocStoreService(engine, outbox, settings, audit)
            logs = LogCollectorAdapter(state.http, state.directory)
            bundles = Bundler(doc_store, logs, settings)
            try:
                yield Resources(engine=engine, doc_store=doc_store, bundles=bundles)
            finally:
                await doc_store.creates.drain()  # what was accepted is written first
        finally:
            await outbox.stop()
            await audit.stop()
    finally:
        await engine.dispose()


def build_app(settings: DocStoreSettings, *, configure_process: bool = True) -> FastAPI:
    """The doc-store app for the given settings."""
    app = create_service_app(
        settings,
        title="doc-store",
        description="Documents, versions, provenance, full-text search and downloads.",
        routers=[documents.router],
        lifespan=lifespan,
        configure_process=configure_process,
    )
    exact_openapi(app)
    return app


def create_app() -> FastAPI:
    """uvicorn factory: settings from the environment."""
    return build_app(DocStoreSettings())

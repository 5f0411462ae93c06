"""The doc-store service: app factory and how `eco up` runs it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from eco_doc_store.api import documents
from eco_doc_store.migrations import upgrade_database
from eco_doc_store.service import DocumentService
from eco_doc_store.settings import DocStoreSettings
from eco_shared.app import ServiceState, create_service_app
from eco_shared.db import create_engine, database_check
from eco_shared.services import ServiceSpec

log = structlog.get_logger(__name__)

SERVICE = ServiceSpec(
    name="doc-store",
    app="eco_doc_store.main:create_app",
    port=5087,
    env_prefix="ECO_DOC_STORE_",
    order=20,
)


def _ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI, state: ServiceState) -> AsyncIterator[None]:
    """Migrate the database, open the engine, and serve documents until shutdown."""
    settings = state.settings
    assert isinstance(settings, DocStoreSettings)
    _ensure_sqlite_dir(settings.db_url)
    await asyncio.to_thread(upgrade_database, settings.db_url)
    log.info("database_migrated", backend=make_url(settings.db_url).get_backend_name())
    engine = create_engine(settings.db_url)
    state.resources["engine"] = engine
    state.resources["documents"] = DocumentService(engine, state.bus, settings)
    state.health.add_check("database", database_check(engine))
    try:
        yield
    finally:
        await engine.dispose()


def build_app(settings: DocStoreSettings, *, configure_process: bool = True) -> FastAPI:
    """The doc-store app for the given settings."""
    return create_service_app(
        settings,
        title="doc-store",
        description="Documents, versions, provenance, full-text search and downloads.",
        routers=[documents.router],
        lifespan=lifespan,
        configure_process=configure_process,
    )


def create_app() -> FastAPI:
    """uvicorn factory: settings from the environment."""
    return build_app(DocStoreSettings())

"""The log-collector service: app factory, lifespan, and how `eco up` runs it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from opentelemetry.instrumentation.utils import suppress_instrumentation

from eco_log_collector import migrations
from eco_log_collector.api import (
    audit,
    dependencies,
    events,
    ingest_errors,
    logs,
    otlp,
    spans,
    stats,
    traces,
)
from eco_log_collector.service import AUDIT_STREAM, LogCollector
from eco_log_collector.settings import LogCollectorSettings
from eco_log_collector.state import Resources
from eco_shared.app import ServiceState, create_service_app
from eco_shared.bus import EVENTS, LOGS
from eco_shared.db import create_engine, database_check, ensure_sqlite_dir
from eco_shared.services import ServiceSpec

SERVICE = ServiceSpec(
    name="log-collector",
    app="eco_log_collector.main:create_app",
    port=5080,
    env_prefix="ECO_LOG_COLLECTOR_",
    order=10,
)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI, state: ServiceState) -> AsyncIterator[Resources]:
    """Open the database (migrated), consume `eco.logs`, `eco.events` and `eco.audit`, run
    retention (which never touches the audit trail)."""
    settings = state.settings
    if not isinstance(settings, LogCollectorSettings):
        raise TypeError("the log collector runs on LogCollectorSettings")
    ensure_sqlite_dir(settings.db_url)
    engine = create_engine(settings.db_url)
    try:
        await migrations.upgrade(engine)
        state.health.add_check("database", database_check(engine))
        collector = LogCollector.create(engine, state.redis, settings)
        options = {
            "consumer": settings.consumer_name,
            "batch_size": settings.batch_size,
            "block_ms": settings.block_ms,
            "reclaim_idle_ms": settings.reclaim_idle_ms,
            "max_deliveries": settings.max_deliveries,
            "batch_handler": True,
        }
        group = settings.consumer_group
        ingest = collector.ingest
        # the collector's own Redis calls must not become spans: it would trace itself forever
        with suppress_instrumentation():
            consumers = [
                state.bus.subscribe(LOGS, group, ingest.handle_logs, **options),  # type: ignore[call-overload]
                state.bus.subscribe(EVENTS, group, ingest.handle_events, **options),  # type: ignore[call-overload]
                state.bus.subscribe(AUDIT_STREAM, group, collector.audit.handle, **options),  # type: ignore[call-overload]
            ]
            for consumer in consumers:
                consumer.start()
            retention = asyncio.create_task(
                collector.retention.run(), name="log-collector-retention"
            )
        try:
            yield Resources(engine=engine, collector=collector)
        finally:
            retention.cancel()
            await asyncio.gather(retention, return_exceptions=True)
            await asyncio.gather(*(c.stop() for c in consumers))
    finally:
        await engine.dispose()


def build_app(settings: LogCollectorSettings, *, configure_process: bool = True) -> FastAPI:
    """The log collector for the given settings."""
    return create_service_app(
        settings,
        title="log-collector",
        description="Every log line, event and span of the ecosystem, stored and queryable.",
        routers=[
            logs.router,
            events.router,
            traces.router,
            spans.router,
            dependencies.router,
            stats.router,
            ingest_errors.router,
            audit.router,
            otlp.router,
        ],
        lifespan=lifespan,
        configure_process=configure_process,
    )


def create_app() -> FastAPI:
    """uvicorn factory: settings from the environment."""
    return build_app(LogCollectorSettings())

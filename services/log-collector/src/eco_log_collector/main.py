"""The log-collector service: app factory and how `eco up` runs it."""

from __future__ import annotations

from eco_shared.services import ServiceSpec

SERVICE = ServiceSpec(
    name="log-collector",
    app="eco_log_collector.main:create_app",
    port=5080,
    env_prefix="ECO_LOG_COLLECTOR_",
    order=10,
)

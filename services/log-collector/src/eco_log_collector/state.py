"""What the log collector's lifespan opens, reached by routes through `deps.py`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from eco_log_collector.service import LogCollector


@dataclass(frozen=True, slots=True)
class Resources:
    """The migrated database engine and the service object built on it."""

    engine: AsyncEngine
    collector: LogCollector

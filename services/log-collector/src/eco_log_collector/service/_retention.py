"""Retention: delete what is older than the window, in batches, now and then."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog

from eco_log_collector.records import to_us
from eco_log_collector.repository import Kind, LogRepository

log = structlog.get_logger(__name__)

_KINDS: tuple[Kind, ...] = ("logs", "events", "spans", "ingest_errors")


class Retention:
    """The retention job of one collector."""

    def __init__(
        self,
        repo: LogRepository,
        *,
        retention_days: float,
        batch_size: int,
        interval_s: float = 3600.0,
    ) -> None:
        self.repo = repo
        self.retention_days = retention_days
        self.batch_size = batch_size
        self.interval_s = interval_s

    async def purge(self, *, now: datetime | None = None, pause_s: float = 0.0) -> dict[str, int]:
        """Delete what is older than the retention window, in batches; counts by kind."""
        moment = now or datetime.now(UTC)
        cutoff_us = to_us(moment) - int(self.retention_days * 86_400 * 1_000_000)
        deleted: dict[str, int] = {}
        for kind in _KINDS:
            total = 0
            while True:
                count = await self.repo.delete_expired(kind, cutoff_us, self.batch_size)
                total += count
                if count < self.batch_size:
                    break
                await asyncio.sleep(pause_s)  # let ingestion take the write lock in between
            deleted[kind] = total
        return deleted

    async def run(self) -> None:
        """`purge` now and then every `interval_s`, until cancelled."""
        while True:
            try:
                deleted = await self.purge(pause_s=0.05)
                if any(deleted.values()):
                    log.info("retention_purged", retention_days=self.retention_days, **deleted)
            except Exception as exc:  # a failed run is retried at the next interval
                log.warning("retention_failed", error=f"{type(exc).__name__}: {exc}"[:500])
            await asyncio.sleep(self.interval_s)

"""The one shape of discovery's periodic background work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


async def run_every(
    interval_s: float, step: Callable[[], Awaitable[object]], *, failed: str
) -> None:
    """Run `step` every `interval_s` for ever; a Redis outage is logged as `failed`, not fatal."""
    while True:
        try:
            await step()
        except (RedisError, OSError) as exc:
            log.warning(failed, error=str(exc))
        await asyncio.sleep(interval_s)

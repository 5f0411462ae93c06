"""Security-relevant actions on `eco.audit`: key ids and subjects, never a secret."""

from __future__ import annotations

from typing import Any

import structlog
from redis.exceptions import RedisError

from eco_shared.bus import EventBus

log = structlog.get_logger(__name__)

AUDIT_STREAM = "eco.audit"


class Audit:
    """Publishes audit events after the write they record has been made."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    async def record(self, type_: str, data: dict[str, Any]) -> None:
        log.info("audit_recorded", audit_type=type_)
        try:
            await self.bus.publish(type_, data, stream=AUDIT_STREAM)
        except (RedisError, OSError) as exc:
            # the action itself is done; losing its audit entry is logged loudly
            log.error("audit_publish_failed", audit_type=type_, error=str(exc)[:200])

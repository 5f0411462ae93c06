"""The registry's events on `eco.events`, each shaped in one place and sent after its write."""

from __future__ import annotations

from typing import Any

import structlog
from redis.exceptions import RedisError

from eco_discovery.models import DEREGISTERED, HEALTH_CHANGED, REGISTERED, SELF_PRESERVATION
from eco_discovery.repository import RegisterResult, Transition
from eco_shared.bus import EventBus

log = structlog.get_logger(__name__)

# How much of a probe's output is kept on the record and in an event.
MAX_OUTPUT = 500


class Announcer:
    """Publishes `service.*` and `discovery.self_preservation` events."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    async def publish(self, type_: str, data: dict[str, Any]) -> None:
        # The write has committed; a failed publish must not turn it into an error answer.
        try:
            await self.bus.publish(type_, data)
        except (RedisError, OSError) as exc:
            log.warning("event_publish_failed", type=type_, error=str(exc))

    async def registered(
        self,
        *,
        name: str,
        instance_id: str,
        base_url: str,
        version: str,
        tags: list[str],
        result: RegisterResult,
    ) -> None:
        log.info("instance_registered", instance_id=instance_id, name=name, created=result.created)
        await self.publish(
            REGISTERED,
            {
                "name": name,
                "instance_id": instance_id,
                "base_url": base_url,
                "version": version,
                "tags": tags,
                "status": result.status,
                "created": result.created,
            },
        )

    async def health_changed(self, t: Transition, *, reason: str) -> None:
        log.info(
            "instance_health_changed",
            instance_id=t.instance_id,
            name=t.name,
            old_status=t.old_status,
            status=t.status,
            reason=reason,
        )
        await self.publish(
            HEALTH_CHANGED,
            {
                "name": t.name,
                "instance_id": t.instance_id,
                "base_url": t.base_url,
                "old_status": t.old_status,
                "status": t.status,
                "output": t.output[:MAX_OUTPUT],
                "reason": reason,
            },
        )

    async def deregistered(self, gone: Transition, *, reason: str) -> None:
        """`gone.old_status` is the instance's last status."""
        await self.publish(
            DEREGISTERED,
            {
                "name": gone.name,
                "instance_id": gone.instance_id,
                "base_url": gone.base_url,
                "last_status": gone.old_status,
                "reason": reason,
            },
        )

    async def self_preservation(
        self, *, active: bool, lapsed: int, total: int, share: float, window_s: float
    ) -> None:
        (log.warning if active else log.info)(
            "self_preservation_entered" if active else "self_preservation_exited",
            lapsed=lapsed,
            total=total,
        )
        await self.publish(
            SELF_PRESERVATION,
            {
                "active": active,
                "lapsed": lapsed,
                "total": total,
                "share": share,
                "window_s": window_s,
            },
        )

"""The hot read, `GET /services/{name}[?healthy=true]`, answered from process memory.

Every resolve of every service asks this question, and the answer changes only when the
registry is written. So the answer is kept as the bytes sent, per (name, healthy), and
dropped whenever this process writes the registry (registration, heartbeat, probe result,
reap, stored capabilities) or a registry event of another replica arrives on `eco.events`.
A write of another replica that publishes no event (a heartbeat's new lease times, a probe
output with the same status) is seen within `max_age_s`, the age past which an answer is
read again in any case.

A fill that raced a write is not kept: each fill notes the write count it started under and
is stored only if no write happened meanwhile.
"""

from __future__ import annotations

import time

from eco_discovery.models import ServiceInstances
from eco_discovery.repository import EventFeed
from eco_discovery.service._catalog import Catalog
from eco_shared.streams import as_text
from eco_shared.supervise import supervised

# the registry events every replica publishes (`service.registered`, ...)
REGISTRY_EVENTS = ("service.", "discovery.")


class InstancesSnapshot:
    """Pre-serialised answers of the hot read, dropped on every registry write."""

    def __init__(self, catalog: Catalog, *, max_age_s: float) -> None:
        self.catalog = catalog
        self.max_age_s = max_age_s
        self._answers: dict[tuple[str, bool], tuple[float, bytes]] = {}
        self._writes = 0

    def changed(self) -> None:
        """The registry was written: every kept answer may be out of date."""
        self._writes += 1
        self._answers.clear()

    async def instances_json(self, name: str, *, healthy: bool) -> bytes:
        """The JSON of `ServiceInstances` for `name` (NotFound when none is registered)."""
        key = (name, healthy)
        kept = self._answers.get(key)
        now = time.monotonic()
        if kept is not None and now - kept[0] < self.max_age_s:
            return kept[1]
        writes = self._writes
        instances = await self.catalog.service_instances(name, healthy=healthy)
        body = ServiceInstances(name=name, instances=instances).model_dump_json().encode()
        if writes == self._writes and self.max_age_s > 0:
            self._answers[key] = (now, body)
        return body

    async def follow(self, feed: EventFeed) -> None:
        """Drop the kept answers on each registry event on the stream (until cancelled).

        The tail waits out a Redis outage itself; any other failure restarts the follower
        (`eco_shared.supervise`), and a restart drops what was kept: events may have been
        missed meanwhile.
        """
        await supervised("discovery-snapshot", lambda: self._follow(feed))

    async def _follow(self, feed: EventFeed) -> None:
        self.changed()
        async for batch in feed.follow(await feed.end()):
            if any(
                as_text(fields.get(b"type", b"")).startswith(REGISTRY_EVENTS)
                for _entry_id, fields in batch
            ):
                self.changed()

"""Which registered instance each recorded call reached, for the provenance record."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from eco_shared.directory import ServiceDirectory
from eco_shared.http import ServiceCallError


def target(url: str) -> str:
    """The scheme and authority of `url` (the base URL of the instance it went to)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class InstanceIds:
    """Instance ids by base URL, per service, from discovery, shared by the replica's runs.

    A service's listing is kept `ttl_s` and asked again sooner when a call went to a base URL
    it does not hold, so every call discovery can name is named, without asking discovery
    once per service for every run.
    """

    def __init__(self, directory: ServiceDirectory, *, ttl_s: float = 10.0) -> None:
        self.directory = directory
        self.ttl_s = ttl_s
        self._known: dict[str, tuple[float, dict[str, str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def of(
        self, calls: Iterable[Mapping[str, Any]], *, shared: bool = True
    ) -> dict[str, str]:
        """Instance id by base URL for the targets of `calls` (those discovery knows).

        With `shared` False (a caller who may not read discovery), discovery is asked afresh
        with the caller's own token and nothing is kept, so no other run's answer is lent."""
        wanted: dict[str, set[str]] = {}
        for call in calls:
            wanted.setdefault(str(call["service"]), set()).add(target(str(call["url"])))
        by_target: dict[str, str] = {}
        for service in sorted(wanted):
            if shared:
                by_target.update(await self._listing(service, wanted[service]))
            else:
                by_target.update(await self._fetch(service) or {})
        return by_target

    def _fresh(self, service: str, targets: set[str]) -> dict[str, str] | None:
        entry = self._known.get(service)
        if entry is None or time.monotonic() - entry[0] > self.ttl_s:
            return None
        return entry[1] if targets <= entry[1].keys() else None

    async def _listing(self, service: str, targets: set[str]) -> dict[str, str]:
        if (known := self._fresh(service, targets)) is not None:
            return known
        async with self._locks.setdefault(service, asyncio.Lock()):
            if (known := self._fresh(service, targets)) is not None:
                return known
            listing = await self._fetch(service)
            if listing is None:  # discovery away: the last answer beats none
                entry = self._known.get(service)
                return entry[1] if entry else {}
            self._known[service] = (time.monotonic(), listing)
            return listing

    async def _fetch(self, service: str) -> dict[str, str] | None:
        try:
            instances = await self.directory.instances(service, healthy=False)
        except (ServiceCallError, ValueError, OSError):
            return None
        return {
            base: str(i.get("instance_id"))
            for i in instances
            if (base := str(i.get("base_url", "")).rstrip("/"))
        }

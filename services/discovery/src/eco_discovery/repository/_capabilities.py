"""Capabilities and OpenAPI documents read from the instances, stored beside their records."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from eco_discovery.repository import _scripts


class CapabilityStore:
    """`caps:{id}` and `spec:{id}`, and the capability state on the instance record."""

    def __init__(self, redis: aioredis.Redis, base: str) -> None:
        self.redis = redis
        self.base = base
        self._store = redis.register_script(_scripts.STORE_CAPS)
        # told after every write (the hot read's snapshot drops what it kept)
        self.on_write: Callable[[], None] = lambda: None

    async def store(
        self,
        instance_id: str,
        base_url: str,
        version: str,
        *,
        error: str = "",
        capabilities: list[dict[str, Any]] | None = None,
        spec: dict[str, Any] | None = None,
    ) -> bool:
        """Store an instance's capabilities and spec (or the error); False if it changed since."""
        stored = await self._store(
            args=[
                self.base,
                instance_id,
                base_url,
                version,
                "ok" if error == "" else "error",
                error,
                len(capabilities or []),
                json.dumps(capabilities or [], separators=(",", ":")),
                json.dumps(spec or {}, separators=(",", ":")),
            ]
        )
        self.on_write()
        return bool(int(stored))

    async def of(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Stored capabilities by instance id (instances without any are left out)."""
        if not ids:
            return {}
        raw = await self.redis.mget([f"{self.base}caps:{i}" for i in ids])
        return {i: json.loads(v) for i, v in zip(ids, raw, strict=True) if v}

    async def spec(self, instance_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(f"{self.base}spec:{instance_id}")
        return json.loads(raw) if raw else None

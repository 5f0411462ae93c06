"""Instances and their leases: registration, renewal, probe results, reaping and reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from eco_discovery.repository import _scripts
from eco_discovery.repository._types import (
    INSTANCE_FIELDS,
    HeartbeatResult,
    IdentityConflict,
    ReapResult,
    RegisterResult,
    RegistryFull,
    StaleGeneration,
    Transition,
    record_of,
)
from eco_shared.streams import as_text


def _texts(values: Any) -> list[str]:
    return [as_text(v) if v is not None else "" for v in values]


def _gone(row: list[Any]) -> Transition:
    """A removed instance; its last status is the transition's `old_status`."""
    instance_id, name, url, last = _texts(row[:4])
    return Transition(instance_id, name, url, last, "")


class Registry:
    """Every read and write of the instance records, the lease sets and the state hash."""

    def __init__(self, redis: aioredis.Redis, base: str) -> None:
        self.redis = redis
        self.base = base
        self._register = redis.register_script(_scripts.REGISTER)
        self._heartbeat = redis.register_script(_scripts.HEARTBEAT)
        self._deregister = redis.register_script(_scripts.DEREGISTER)
        self._check = redis.register_script(_scripts.CHECK)
        self._reap = redis.register_script(_scripts.REAP)
        self._read_service = redis.register_script(_scripts.READ_SERVICE)
        # told after every write (the hot read's snapshot drops what it kept)
        self.on_write: Callable[[], None] = lambda: None

    def key(self, name: str) -> str:
        return f"{self.base}{name}"

    # -- transitions (one script each) ----------------------------------------------------

    async def register(
        self,
        *,
        instance_id: str,
        name: str,
        base_url: str,
        version: str,
        tags: list[str],
        meta: dict[str, Any],
        ttl_ms: int,
        max_instances: int,
        owner: str,
    ) -> RegisterResult:
        """Create or refresh an instance record and its lease, as a new generation.

        IdentityConflict when the id is bound to another name or owner."""
        raw = await self._register(
            args=[
                self.base,
                instance_id,
                name,
                base_url,
                version,
                json.dumps(tags),
                json.dumps(meta, separators=(",", ":")),
                ttl_ms,
                max_instances,
                owner,
            ]
        )
        self.on_write()
        code = int(raw[0])
        if code == -1:
            raise RegistryFull
        if code in (-2, -3):
            raise IdentityConflict("name" if code == -2 else "owner", as_text(raw[1]))
        return RegisterResult(
            created=bool(code),
            changed=bool(int(raw[1])),
            old_status=as_text(raw[2]),
            status=as_text(raw[3]),
            lease_expires_ms=int(raw[4]),
            generation=int(raw[5]),
        )

    async def heartbeat(self, instance_id: str, generation: int) -> HeartbeatResult | None:
        """Renew the lease of one registration; None when the instance is unknown,
        StaleGeneration when the instance is registered under another generation."""
        raw = await self._heartbeat(args=[self.base, instance_id, str(generation)])
        self.on_write()
        if raw is None:
            return None
        if raw[0] == -1:
            raise StaleGeneration(as_text(raw[1]))
        return HeartbeatResult(as_text(raw[0]), as_text(raw[1]), int(raw[2]), int(raw[3]))

    async def deregister(
        self, instance_id: str, generation: int | None = None
    ) -> Transition | None:
        """Remove an instance and everything stored for it; None when unknown.

        With `generation`, only that registration (StaleGeneration otherwise)."""
        wanted = "" if generation is None else str(generation)
        raw = await self._deregister(args=[self.base, instance_id, wanted])
        self.on_write()
        if raw is None:
            return None
        if raw[0] == -1:
            raise StaleGeneration(as_text(raw[1]))
        return _gone([instance_id, *raw])

    async def record_check(
        self, instance_id: str, base_url: str, status: str, output: str
    ) -> tuple[str, str] | None:
        """Store a probe result; (old, new) status, or None if the instance moved or left."""
        raw = await self._check(args=[self.base, instance_id, base_url, status, output])
        self.on_write()
        if raw is None:
            return None
        return as_text(raw[0]), as_text(raw[1])

    async def reap(
        self, *, window_ms: int, share: float, min_lapsed: int, grace_ms: int, batch: int = 1000
    ) -> ReapResult:
        """Mark lapsed leases critical and evict those past the grace period (atomically)."""
        raw = await self._reap(args=[self.base, window_ms, share, min_lapsed, grace_ms, batch])
        # a state change, lapses (leases marked expired), turned critical, evicted
        if raw[0] or int(raw[1]) or raw[3] or raw[4]:
            self.on_write()
        return ReapResult(
            self_preservation=as_text(raw[0]),
            lapsed=int(raw[1]),
            total=int(raw[2]),
            criticals=[Transition(*_texts(row)) for row in raw[3]],
            evicted=[_gone(row) for row in raw[4]],
        )

    async def acquire(self, name: str, owner: str, ttl_ms: int) -> bool:
        """Take a lock with a TTL (SET NX PX): a SIGKILLed holder cannot block it for long."""
        return bool(await self.redis.set(self.key(f"lock:{name}"), owner, nx=True, px=ttl_ms))

    # -- reads --------------------------------------------------------------------------

    async def self_preservation(self) -> dict[str, str]:
        """The self-preservation state hash (`self_preservation`, `since`, `lapsed`, `total`)."""
        raw = await self.redis.hgetall(self.key("state"))
        return {as_text(k): as_text(v) for k, v in raw.items()}

    async def instance_ids(self) -> list[str]:
        return sorted(as_text(v) for v in await self.redis.smembers(self.key("instances")))

    async def names(self) -> list[str]:
        return sorted(as_text(v) for v in await self.redis.smembers(self.key("names")))

    async def records(self, ids: list[str]) -> list[dict[str, str]]:
        """The hashes of `ids` in one round trip (instances removed meanwhile are skipped)."""
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for instance_id in ids:
            pipe.hmget(self.key(f"inst:{instance_id}"), INSTANCE_FIELDS)
        rows = await pipe.execute()
        return [r for r in (record_of(row) for row in rows) if r.get("instance_id")]

    async def record(self, instance_id: str) -> dict[str, str] | None:
        found = await self.records([instance_id])
        return found[0] if found else None

    async def service_records(self, name: str) -> list[dict[str, str]]:
        """Every record of one service, in one round trip."""
        rows = await self._read_service(args=[self.base, name, *INSTANCE_FIELDS])
        return [r for r in (record_of(row) for row in rows) if r.get("instance_id")]

    async def instances_of_names(self, names: list[str]) -> dict[str, list[dict[str, str]]]:
        """Every record of each named service (two round trips in all)."""
        if not names:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.smembers(self.key(f"name:{name}"))
        id_sets = await pipe.execute()
        ids = sorted({as_text(i) for s in id_sets for i in s})
        by_name: dict[str, list[dict[str, str]]] = {name: [] for name in names}
        for record in await self.records(ids):
            by_name.setdefault(record.get("name", ""), []).append(record)
        return by_name

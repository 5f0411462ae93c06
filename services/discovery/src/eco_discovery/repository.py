"""The registry in Redis: every read and every atomic state change (Lua scripts).

Layout (every key under `settings.key("discovery:")`):

- `inst:{id}`      hash: the instance record, its lease, last check and capability state
- `caps:{id}`      string: the instance's capabilities (JSON list)
- `spec:{id}`      string: the instance's OpenAPI document (JSON)
- `instances`      set of all instance ids; `names` set of service names;
  `name:{name}`    set of the ids of one service
- `leases`         sorted set id -> lease expiry (ms, Redis clock), live leases only
- `expired`        sorted set id -> when the lease lapsed (ms); the grace period runs from it
- `recent_lapses`  sorted set id -> lapse time, the self-preservation window
- `state`          hash: self-preservation flag and counters

Every transition (register, heartbeat, check result, lapse, eviction) is one script, so
whichever replica runs it sees the before and after atomically and only the replica that
made a change announces it: one lapse gives exactly one event however many reapers run.
Scripts take the Redis server's clock (`TIME`), so replicas with skewed clocks agree.
Instance keys are built inside the scripts from the prefix (fine on one Redis; a cluster
would need hash tags).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

_PRELUDE = """
local base = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function ikey(id) return base .. 'inst:' .. id end
local function status_of(k)
  if redis.call('HGET', k, 'lease') == 'expired' then return 'critical' end
  return redis.call('HGET', k, 'check') or 'passing'
end
local function restatus(k)
  local new = status_of(k)
  local old = redis.call('HGET', k, 'status') or ''
  if old ~= new then redis.call('HSET', k, 'status', new, 'status_changed_at', now) end
  return {old, new}
end
local function forget(id)
  local k = ikey(id)
  local name = redis.call('HGET', k, 'name')
  redis.call('DEL', k, base .. 'caps:' .. id, base .. 'spec:' .. id)
  redis.call('ZREM', base .. 'leases', id)
  redis.call('ZREM', base .. 'expired', id)
  redis.call('ZREM', base .. 'recent_lapses', id)
  redis.call('SREM', base .. 'instances', id)
  if name then
    redis.call('SREM', base .. 'name:' .. name, id)
    if redis.call('SCARD', base .. 'name:' .. name) == 0 then
      redis.call('SREM', base .. 'names', name)
    end
  end
end
"""

# ARGV: base, id, name, base_url, version, tags, meta, ttl_ms, max_instances
_REGISTER = (
    _PRELUDE
    + """
local id, name, url, version = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ttl = tonumber(ARGV[8])
local k = ikey(id)
local existed = redis.call('EXISTS', k) == 1
local changed = 0
if existed then
  local v = redis.call('HMGET', k, 'name', 'version', 'base_url')
  if v[1] ~= name then
    redis.call('SREM', base .. 'name:' .. v[1], id)
    if redis.call('SCARD', base .. 'name:' .. v[1]) == 0 then
      redis.call('SREM', base .. 'names', v[1])
    end
  end
  if v[1] ~= name or v[2] ~= version or v[3] ~= url then
    changed = 1
    redis.call('HSET', k, 'caps_status', 'pending', 'caps_requested_at', now)
  end
else
  if redis.call('SCARD', base .. 'instances') >= tonumber(ARGV[9]) then return {-1} end
  changed = 1
  redis.call('HSET', k, 'registered_at', now, 'check', 'passing',
    'check_output', 'registered; not probed yet', 'check_time', now,
    'caps_status', 'pending', 'caps_requested_at', now)
end
redis.call('HSET', k, 'name', name, 'instance_id', id, 'base_url', url, 'version', version,
  'tags', ARGV[6], 'meta', ARGV[7], 'ttl_ms', ttl, 'updated_at', now,
  'last_heartbeat', now, 'lease_expires_at', now + ttl, 'lease', 'alive')
redis.call('HDEL', k, 'critical_since')
redis.call('ZADD', base .. 'leases', now + ttl, id)
redis.call('ZREM', base .. 'expired', id)
redis.call('SADD', base .. 'instances', id)
redis.call('SADD', base .. 'names', name)
redis.call('SADD', base .. 'name:' .. name, id)
local s = restatus(k)
return {existed and 0 or 1, changed, s[1], s[2], now + ttl}
"""
)

# ARGV: base, id
_HEARTBEAT = (
    _PRELUDE
    + """
local id = ARGV[2]
local k = ikey(id)
if redis.call('EXISTS', k) == 0 then return false end
local ttl = tonumber(redis.call('HGET', k, 'ttl_ms'))
redis.call('HSET', k, 'last_heartbeat', now, 'lease_expires_at', now + ttl, 'lease', 'alive')
redis.call('HDEL', k, 'critical_since')
redis.call('ZADD', base .. 'leases', now + ttl, id)
redis.call('ZREM', base .. 'expired', id)
local s = restatus(k)
return {s[1], s[2], now + ttl, ttl}
"""
)

# ARGV: base, id
_DEREGISTER = (
    _PRELUDE
    + """
local id = ARGV[2]
local k = ikey(id)
if redis.call('EXISTS', k) == 0 then return false end
local v = redis.call('HMGET', k, 'name', 'base_url', 'status')
forget(id)
return v
"""
)

# ARGV: base, id, probed base_url, check status, output
_CHECK = (
    _PRELUDE
    + """
local id = ARGV[2]
local k = ikey(id)
if redis.call('HGET', k, 'base_url') ~= ARGV[3] then return false end
redis.call('HSET', k, 'check', ARGV[4], 'check_output', ARGV[5], 'check_time', now)
return restatus(k)
"""
)

# ARGV: base, id, fetched base_url, version, caps status, error, count, caps json, spec json
_STORE_CAPS = (
    _PRELUDE
    + """
local id = ARGV[2]
local k = ikey(id)
local v = redis.call('HMGET', k, 'base_url', 'version')
if v[1] ~= ARGV[3] or v[2] ~= ARGV[4] then return 0 end
redis.call('HSET', k, 'caps_status', ARGV[5], 'caps_error', ARGV[6], 'caps_count', ARGV[7],
  'caps_time', now, 'caps_version', ARGV[4])
if ARGV[5] == 'ok' then
  redis.call('SET', base .. 'caps:' .. id, ARGV[8])
  redis.call('SET', base .. 'spec:' .. id, ARGV[9])
end
return 1
"""
)

# ARGV: base, window_ms, share, min_lapsed, grace_ms, batch
_REAP = (
    _PRELUDE
    + """
local window, share = tonumber(ARGV[2]), tonumber(ARGV[3])
local min_lapsed, grace, batch = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local leases, expired = base .. 'leases', base .. 'expired'
local recent, state = base .. 'recent_lapses', base .. 'state'
redis.call('ZREMRANGEBYSCORE', recent, '-inf', '(' .. (now - window))
local lapsed = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, batch)
local total = redis.call('ZCARD', leases) + redis.call('ZCARD', expired)
local sp = redis.call('HGET', state, 'self_preservation') == '1'
local change = ''
local count = redis.call('ZCARD', recent) + #lapsed
if not sp then
  if #lapsed > 0 and count >= min_lapsed and count > share * total then
    sp = true
    change = 'entered'
    redis.call('HSET', state, 'self_preservation', '1', 'since', now, 'lapsed', count,
      'total', total)
  end
else
  local still = redis.call('ZCOUNT', leases, '-inf', now)
  if still < min_lapsed or still <= share * total then
    sp = false
    change = 'exited'
    count = still
    redis.call('HSET', state, 'self_preservation', '0', 'since', now, 'lapsed', still,
      'total', total)
    redis.call('DEL', recent)
  end
end
local criticals, evicted = {}, {}
if not sp then
  for _, id in ipairs(lapsed) do
    local k = ikey(id)
    redis.call('ZREM', leases, id)
    if redis.call('EXISTS', k) == 1 then
      redis.call('ZADD', expired, now, id)
      redis.call('ZADD', recent, now, id)
      redis.call('HSET', k, 'lease', 'expired', 'critical_since', now)
      local s = restatus(k)
      if s[1] ~= s[2] then
        local v = redis.call('HMGET', k, 'name', 'base_url', 'check_output')
        table.insert(criticals, {id, v[1], v[2], s[1], s[2], v[3] or ''})
      end
    end
  end
  local old = redis.call('ZRANGEBYSCORE', expired, '-inf', now - grace, 'LIMIT', 0, batch)
  for _, id in ipairs(old) do
    local v = redis.call('HMGET', ikey(id), 'name', 'base_url', 'status')
    forget(id)
    table.insert(evicted, {id, v[1] or '', v[2] or '', v[3] or ''})
  end
end
return {change, count, total, criticals, evicted}
"""
)

# ARGV: base, fields...; KEYS: none. One round trip for a service's records (the hot read).
_READ_SERVICE = """
local base = ARGV[1]
local ids = redis.call('SMEMBERS', base .. 'name:' .. ARGV[2])
local out = {}
for i, id in ipairs(ids) do
  out[i] = redis.call('HMGET', base .. 'inst:' .. id, unpack(ARGV, 3))
end
return out
"""

INSTANCE_FIELDS = (
    "name",
    "instance_id",
    "base_url",
    "version",
    "tags",
    "meta",
    "ttl_ms",
    "registered_at",
    "last_heartbeat",
    "lease_expires_at",
    "lease",
    "check",
    "check_output",
    "check_time",
    "status",
    "critical_since",
    "caps_status",
    "caps_error",
    "caps_count",
    "caps_requested_at",
    "caps_time",
    "caps_version",
)


def ms_to_iso(value: Any) -> str | None:
    """Epoch milliseconds (as Redis returns them) to RFC 3339, None when absent."""
    if value in (None, "", b""):
        return None
    return (
        datetime.fromtimestamp(int(value) / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _record(row: list[Any]) -> dict[str, str]:
    return {f: _text(v) for f, v in zip(INSTANCE_FIELDS, row, strict=True) if v is not None}


@dataclass(frozen=True)
class RegisterResult:
    created: bool
    changed: bool
    old_status: str
    status: str
    lease_expires_ms: int


@dataclass(frozen=True)
class HeartbeatResult:
    old_status: str
    status: str
    lease_expires_ms: int
    ttl_ms: int


@dataclass(frozen=True)
class Transition:
    instance_id: str
    name: str
    base_url: str
    old_status: str
    status: str
    output: str = ""


@dataclass(frozen=True)
class ReapResult:
    self_preservation: str  # "", "entered" or "exited"
    lapsed: int
    total: int
    criticals: list[Transition]
    evicted: list[Transition]


class RegistryFull(Exception):
    """`max_instances` are registered already."""


class Registry:
    """All reads and writes of the registry's Redis keys."""

    def __init__(self, redis: aioredis.Redis, base: str) -> None:
        self.redis = redis
        self.base = base
        self._register = redis.register_script(_REGISTER)
        self._heartbeat = redis.register_script(_HEARTBEAT)
        self._deregister = redis.register_script(_DEREGISTER)
        self._check = redis.register_script(_CHECK)
        self._store_caps = redis.register_script(_STORE_CAPS)
        self._reap = redis.register_script(_REAP)
        self._read_service = redis.register_script(_READ_SERVICE)

    def key(self, name: str) -> str:
        return f"{self.base}{name}"

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
    ) -> RegisterResult:
        """Create or refresh an instance record and its lease."""
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
            ]
        )
        if int(raw[0]) == -1:
            raise RegistryFull
        return RegisterResult(
            created=bool(int(raw[0])),
            changed=bool(int(raw[1])),
            old_status=_text(raw[2]),
            status=_text(raw[3]),
            lease_expires_ms=int(raw[4]),
        )

    async def heartbeat(self, instance_id: str) -> HeartbeatResult | None:
        """Renew a lease; None when the instance is unknown."""
        raw = await self._heartbeat(args=[self.base, instance_id])
        if raw is None:
            return None
        return HeartbeatResult(_text(raw[0]), _text(raw[1]), int(raw[2]), int(raw[3]))

    async def deregister(self, instance_id: str) -> Transition | None:
        """Remove an instance and everything stored for it; None when unknown."""
        raw = await self._deregister(args=[self.base, instance_id])
        if raw is None:
            return None
        name, url, status = (_text(v) if v is not None else "" for v in raw)
        return Transition(instance_id, name, url, status, "")

    async def record_check(
        self, instance_id: str, base_url: str, status: str, output: str
    ) -> tuple[str, str] | None:
        """Store a probe result; (old, new) status, or None if the instance moved or left."""
        raw = await self._check(args=[self.base, instance_id, base_url, status, output])
        if raw is None:
            return None
        return _text(raw[0]), _text(raw[1])

    async def store_capabilities(
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
        ok = error == ""
        stored = await self._store_caps(
            args=[
                self.base,
                instance_id,
                base_url,
                version,
                "ok" if ok else "error",
                error,
                len(capabilities or []),
                json.dumps(capabilities or [], separators=(",", ":")),
                json.dumps(spec or {}, separators=(",", ":")),
            ]
        )
        return bool(int(stored))

    async def reap(
        self, *, window_ms: int, share: float, min_lapsed: int, grace_ms: int, batch: int = 1000
    ) -> ReapResult:
        """Mark lapsed leases critical and evict those past the grace period (atomically)."""
        raw = await self._reap(args=[self.base, window_ms, share, min_lapsed, grace_ms, batch])
        return ReapResult(
            self_preservation=_text(raw[0]),
            lapsed=int(raw[1]),
            total=int(raw[2]),
            criticals=[Transition(*(_text(v) for v in row)) for row in raw[3]],
            evicted=[
                Transition(_text(r[0]), _text(r[1]), _text(r[2]), _text(r[3]), "") for r in raw[4]
            ],
        )

    async def self_preservation(self) -> dict[str, str]:
        """The self-preservation state hash (`self_preservation`, `since`, `lapsed`, `total`)."""
        raw = await self.redis.hgetall(self.key("state"))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def instance_ids(self) -> list[str]:
        return sorted(_text(v) for v in await self.redis.smembers(self.key("instances")))

    async def names(self) -> list[str]:
        return sorted(_text(v) for v in await self.redis.smembers(self.key("names")))

    async def ids_of(self, name: str) -> list[str]:
        return sorted(_text(v) for v in await self.redis.smembers(self.key(f"name:{name}")))

    async def records(self, ids: list[str]) -> list[dict[str, str]]:
        """The hashes of `ids` in one round trip (instances removed meanwhile are skipped)."""
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for instance_id in ids:
            pipe.hmget(self.key(f"inst:{instance_id}"), INSTANCE_FIELDS)
        rows = await pipe.execute()
        return [r for r in (_record(row) for row in rows) if r.get("instance_id")]

    async def record(self, instance_id: str) -> dict[str, str] | None:
        found = await self.records([instance_id])
        return found[0] if found else None

    async def service_records(self, name: str) -> list[dict[str, str]]:
        """Every record of one service, in one round trip."""
        rows = await self._read_service(args=[self.base, name, *INSTANCE_FIELDS])
        return [r for r in (_record(row) for row in rows) if r.get("instance_id")]

    async def instances_of_names(self, names: list[str]) -> dict[str, list[dict[str, str]]]:
        """Every record of each named service (two round trips in all)."""
        if not names:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.smembers(self.key(f"name:{name}"))
        id_sets = await pipe.execute()
        ids = sorted({_text(i) for s in id_sets for i in s})
        by_name: dict[str, list[dict[str, str]]] = {name: [] for name in names}
        for record in await self.records(ids):
            by_name.setdefault(record.get("name", ""), []).append(record)
        return by_name

    async def capabilities(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Stored capabilities by instance id (instances without any are left out)."""
        if not ids:
            return {}
        raw = await self.redis.mget([self.key(f"caps:{i}") for i in ids])
        return {i: json.loads(v) for i, v in zip(ids, raw, strict=True) if v}

    async def spec(self, instance_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.key(f"spec:{instance_id}"))
        return json.loads(raw) if raw else None

    async def acquire(self, name: str, owner: str, ttl_ms: int) -> bool:
        """Take a lock with a TTL (SET NX PX): a SIGKILLed holder cannot block it for long."""
        return bool(await self.redis.set(self.key(f"lock:{name}"), owner, nx=True, px=ttl_ms))

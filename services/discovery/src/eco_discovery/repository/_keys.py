"""The issuer's state in Redis: API key records and run grants (never a secret in clear).

Layout (every key under `settings.key("auth:")`, apart from discovery's registry so the
issuer can move to a service of its own):

- `key:{id}`       hash: the key's record (`hash` and, after a rotation, `prev_hash` and
  `prev_until`, both HMAC-SHA256 under the pepper, which lives in a file, not here)
- `keys`           set of every key id; `owner:{subject}` the key ids of one owner
- `grant:{id}`     hash: one run grant (its secret's HMAC, the client it was issued to,
  the user, the scopes, the API key), expiring with the grant (24 h)

Creating, rotating and revoking a key are one script each, so two issuer replicas never
create the bootstrap key twice or lose a rotation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from eco_shared.streams import as_text

# ARGV: base, id, owner, field, value, field, value, ...: create unless the id exists
CREATE = """
local base, id, owner = ARGV[1], ARGV[2], ARGV[3]
local k = base .. 'key:' .. id
if redis.call('EXISTS', k) == 1 then return 0 end
for i = 4, #ARGV, 2 do redis.call('HSET', k, ARGV[i], ARGV[i + 1]) end
redis.call('SADD', base .. 'keys', id)
redis.call('SADD', base .. 'owner:' .. owner, id)
return 1
"""

# ARGV: base, id, new hash, old secret valid until (ms), now (ms)
ROTATE = """
local k = ARGV[1] .. 'key:' .. ARGV[2]
if redis.call('EXISTS', k) == 0 or redis.call('HEXISTS', k, 'revoked_at') == 1 then
  return 0
end
local old = redis.call('HGET', k, 'hash')
redis.call('HSET', k, 'prev_hash', old, 'prev_until', ARGV[4], 'hash', ARGV[3],
  'rotated_at', ARGV[5])
return 1
"""

# ARGV: base, id, now (ms), by: 1 when this call revoked it, 2 when it was already, 0 unknown
REVOKE = """
local k = ARGV[1] .. 'key:' .. ARGV[2]
if redis.call('EXISTS', k) == 0 then return 0 end
if redis.call('HEXISTS', k, 'revoked_at') == 1 then return 2 end
redis.call('HSET', k, 'revoked_at', ARGV[3], 'revoked_by', ARGV[4])
redis.call('HDEL', k, 'prev_hash', 'prev_until')
return 1
"""


def _decode(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in raw.items()}


class KeyStore:
    """Every read and write of API key records and run grants."""

    def __init__(self, redis: aioredis.Redis, base: str) -> None:
        self.redis = redis
        self.base = base
        self._create = redis.register_script(CREATE)
        self._rotate = redis.register_script(ROTATE)
        self._revoke = redis.register_script(REVOKE)

    def key(self, name: str) -> str:
        return f"{self.base}{name}"

    # -- API keys ------------------------------------------------------------------------

    async def create(self, key_id: str, owner: str, fields: Mapping[str, str]) -> bool:
        """Store a new key record; False (nothing written) when the id exists already."""
        args: list[str] = [self.base, key_id, owner]
        for name, value in fields.items():
            args += [name, value]
        return bool(int(await self._create(args=args)))

    async def get(self, key_id: str) -> dict[str, str] | None:
        raw = await self.redis.hgetall(self.key(f"key:{key_id}"))
        return _decode(raw) if raw else None

    async def ids(self, owner: str | None) -> list[str]:
        """Every key id (of one owner, when given)."""
        name = "keys" if owner is None else f"owner:{owner}"
        return sorted(as_text(v) for v in await self.redis.smembers(self.key(name)))

    async def many(self, ids: list[str]) -> list[dict[str, str]]:
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for key_id in ids:
            pipe.hgetall(self.key(f"key:{key_id}"))
        return [_decode(raw) for raw in await pipe.execute() if raw]

    async def rotate(self, key_id: str, new_hash: str, prev_until_ms: int, now_ms: int) -> bool:
        """Swap in a new secret; the old one verifies until `prev_until_ms`. False if revoked."""
        done = await self._rotate(args=[self.base, key_id, new_hash, prev_until_ms, now_ms])
        return bool(int(done))

    async def revoke(self, key_id: str, now_ms: int, by: str) -> int:
        """1: revoked now; 2: it was already; 0: no such key."""
        return int(await self._revoke(args=[self.base, key_id, now_ms, by]))

    async def announce_revocation(self, channel: str, key_id: str) -> None:
        await self.redis.publish(channel, key_id)

    # -- run grants ----------------------------------------------------------------------

    async def create_grant(self, grant_id: str, fields: Mapping[str, Any], ttl_s: float) -> None:
        key = self.key(f"grant:{grant_id}")
        values: dict[Any, Any] = {
            k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()
        }
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping=values)
        pipe.pexpire(key, max(1, int(ttl_s * 1000)))
        await pipe.execute()

    async def grant(self, grant_id: str) -> tuple[dict[str, str], float] | None:
        """A grant's fields and the seconds it has left; None once it expired."""
        key = self.key(f"grant:{grant_id}")
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(key)
        pipe.pttl(key)
        raw, ttl_ms = await pipe.execute()
        if not raw:
            return None
        return _decode(raw), max(0.0, int(ttl_ms) / 1000)

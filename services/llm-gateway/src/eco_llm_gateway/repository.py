"""Everything the gateway keeps in Redis: rate-limit buckets, the response cache, the usage
log with its hourly rollups, the tokens each API key's budget has spent, and recent outcomes
per provider (what calls leave behind is written in batches by `ledger.Ledger`). Every key
goes through `settings.key()`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from eco_llm_gateway.settings import LlmGatewaySettings
from eco_shared.models.llm_gateway import UsageLogEntry, UsageRecord
from eco_shared.streams import as_text, text_fields

# Token bucket, refilled continuously at `rate` per second up to `capacity`. One script, so
# concurrent requests of a caller (on any replica) never both take the last token. The clock
# is Redis's own, so replicas with skewed clocks agree.
_TOKEN_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, tostring(tokens), tostring(wait)}
"""

# Cache read that also counts the hit, atomically with the read it counts.
_CACHE_GET = """
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('HINCRBY', KEYS[2], 'hits', 1)
else
  redis.call('HINCRBY', KEYS[2], 'misses', 1)
end
return value
"""

METRICS_INT = (
    "calls",
    "errors",
    "rate_limited",
    "cache_hits",
    "sensitive",
    "tokens_in",
    "tokens_out",
)
HOUR = 3600


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    remaining: float
    retry_after_s: float


@dataclass(frozen=True)
class BudgetSpend:
    """Tokens an answered call takes from a budget, in the window it counts in."""

    owner: str
    window_start: int
    window_end: int
    tokens: int


def stream_fields(record: UsageRecord) -> dict[str, str]:
    """A usage record as stream fields."""
    return {
        "caller": record.caller,
        "actors": " ".join(record.actors),
        "key_id": record.key_id or "",
        "run_id": record.run_id or "",
        "requested_model": record.requested_model,
        "provider": record.provider,
        "model": record.model,
        "status": str(record.status),
        "outcome": record.outcome,
        "stream": "1" if record.stream else "0",
        "cache_hit": "1" if record.cache_hit else "0",
        "tokens_in": str(record.tokens_in),
        "tokens_out": str(record.tokens_out),
        "cost_usd": repr(record.cost_usd),
        "duration_ms": f"{record.duration_ms:.2f}",
        "task": record.task or "",
        "sensitive": "1" if record.sensitive else "0",
        "finding_types": ",".join(record.finding_types),
        "route_reason": record.route_reason,
        "attempts": json.dumps(
            [a.model_dump(mode="json") for a in record.attempts], separators=(",", ":")
        ),
    }


def _parse_entry(entry_id: Any, raw: dict[Any, Any]) -> UsageLogEntry:
    f = text_fields(raw)
    eid = as_text(entry_id)
    millis = int(eid.split("-")[0])
    return UsageLogEntry(
        id=eid,
        time=datetime.fromtimestamp(millis / 1000, UTC).isoformat().replace("+00:00", "Z"),
        caller=f.get("caller", ""),
        actors=f.get("actors", "").split(),
        key_id=f.get("key_id") or None,
        run_id=f.get("run_id") or None,
        requested_model=f.get("requested_model", ""),
        provider=f.get("provider", ""),
        model=f.get("model", ""),
        status=int(f.get("status", "0")),
        outcome=f.get("outcome", ""),
        stream=f.get("stream") == "1",
        cache_hit=f.get("cache_hit") == "1",
        tokens_in=int(f.get("tokens_in", "0")),
        tokens_out=int(f.get("tokens_out", "0")),
        cost_usd=float(f.get("cost_usd", "0")),
        duration_ms=float(f.get("duration_ms", "0")),
        task=f.get("task") or None,
        sensitive=f.get("sensitive") == "1",
        finding_types=[t for t in f.get("finding_types", "").split(",") if t],
        route_reason=f.get("route_reason", ""),
        attempts=json.loads(f.get("attempts") or "[]"),
    )


def usage_increments(record: UsageRecord) -> dict[str, float]:
    ok = record.status < 400
    return {
        "calls": 1 if ok else 0,
        "errors": 1 if not ok and record.status != 429 else 0,
        "rate_limited": 1 if record.status == 429 else 0,
        "cache_hits": 1 if record.cache_hit else 0,
        "sensitive": 1 if record.sensitive else 0,
        "tokens_in": record.tokens_in,
        "tokens_out": record.tokens_out,
        "cost_usd": record.cost_usd,
    }


Totals = dict[str, float]
Table = dict[tuple[str, str], Totals]


def _add(table: Table, caller: str, provider: str, metric: str, value: float) -> None:
    row = table.setdefault((caller, provider), defaultdict(float))
    row[metric] += value


class GatewayRepository:
    """Redis access of the gateway."""

    def __init__(self, redis: aioredis.Redis, settings: LlmGatewaySettings) -> None:
        self.redis = redis
        self.settings = settings
        self._bucket = redis.register_script(_TOKEN_BUCKET)
        self._cache_get = redis.register_script(_CACHE_GET)

    def key(self, name: str) -> str:
        return self.settings.key(f"llm-gateway:{name}")

    # -- rate limit -------------------------------------------------------------------

    async def take_token(
        self,
        bucket: str,
        cost: float = 1.0,
        *,
        capacity: float | None = None,
        refill_per_s: float | None = None,
    ) -> RateDecision:
        """Take `cost` tokens from a bucket (default: the configured size), or say how long
        until it can."""
        capacity = self.settings.rate_limit_capacity if capacity is None else capacity
        refill = self.settings.rate_limit_refill_per_s if refill_per_s is None else refill_per_s
        if capacity <= 0:
            return RateDecision(True, float("inf"), 0.0)
        allowed, remaining, wait = await self._bucket(
            keys=[self.key(f"ratelimit:{bucket}")], args=[capacity, refill, cost]
        )
        return RateDecision(bool(int(allowed)), float(as_text(remaining)), float(as_text(wait)))

    # -- cache ------------------------------------------------------------------------

    async def cache_get(self, digest: str) -> dict[str, Any] | None:
        """A cached answer, counting the hit or miss."""
        raw = await self._cache_get(keys=[self.key(f"cache:{digest}"), self.key("cache-stats")])
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    # -- budgets ----------------------------------------------------------------------

    def _budget_key(self, owner: str, window_start: int) -> str:
        return self.key(f"budget:{owner}:{window_start}")

    async def budget_spent(self, owner: str, window_start: int) -> int:
        """Tokens spent by `owner` in the budget window starting at `window_start`."""
        raw = await self.redis.get(self._budget_key(owner, window_start))
        return int(as_text(raw)) if raw is not None else 0

    # -- usage ------------------------------------------------------------------------

    async def spend(self, spend: BudgetSpend) -> None:
        """Take what an answered call spent from its budget (one round trip). The usage
        record itself goes through the `Ledger`, in a batch."""
        budget = self._budget_key(spend.owner, spend.window_start)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incrby(budget, spend.tokens)
            pipe.expireat(budget, spend.window_end + HOUR)
            await pipe.execute()

    async def usage_table(self, since: float | None, until: float) -> tuple[Table, bool]:
        """Totals by (caller, provider) from `since`; False when the log no longer reaches it."""
        table: Table = {}
        complete = True
        hours_key = self.key("usage:hours")
        first_full = None
        if since is not None:
            first_full = -(-int(since) // HOUR) * HOUR  # ceil to the hour
            if since < first_full:
                # The part-hour before the first full hour comes from the log itself.
                # The log's end: up to the first full hour (its rollup counts from there on,
                # so not its first millisecond), else up to and with `until`'s millisecond
                # (a call flushed in the millisecond the report was asked is counted).
                end_ms = first_full * 1000 - 1 if first_full <= until else int(until * 1000)
                complete = await self._from_log(table, since, end_ms)
        low = "-inf" if first_full is None else first_full
        hours = await self.redis.zrangebyscore(hours_key, low, "+inf")
        for raw_hour in hours:
            data = await self.redis.hgetall(self.key(f"usage:hour:{as_text(raw_hour)}"))
            for field, value in data.items():
                caller, provider, metric = as_text(field).rsplit("|", 2)
                _add(table, caller, provider, metric, float(as_text(value)))
        return table, complete

    async def _from_log(self, table: Table, since: float, end_ms: int) -> bool:
        stream = self.key("usage:log")
        oldest = await self.redis.xrange(stream, "-", "+", count=1)
        complete = not oldest or int(as_text(oldest[0][0]).split("-")[0]) <= since * 1000
        start = f"{int(since * 1000)}-0"
        end = f"{end_ms}-18446744073709551615"
        while True:
            batch: list[Any] = await self.redis.xrange(stream, start, end, count=1000) or []
            for entry_id, raw in batch:
                entry = _parse_entry(entry_id, raw)
                for metric, value in usage_increments(entry).items():
                    _add(table, entry.caller, entry.provider, metric, value)
            if len(batch) < 1000:
                return complete
            start = "(" + as_text(batch[-1][0])

    async def usage_log(
        self, *, since: float | None, caller: str | None, limit: int, run_id: str | None = None
    ) -> list[UsageLogEntry]:
        """The newest log entries (newest first), optionally from one caller, run and time on."""
        start = "-" if since is None else f"{int(since * 1000)}-0"
        entries: list[UsageLogEntry] = []
        end = "+"
        while len(entries) < limit:
            batch: list[Any] = (
                await self.redis.xrevrange(self.key("usage:log"), end, start, count=500) or []
            )
            for entry_id, raw in batch:
                entry = _parse_entry(entry_id, raw)
                if (caller is None or entry.caller == caller) and (
                    run_id is None or entry.run_id == run_id
                ):
                    entries.append(entry)
                    if len(entries) >= limit:
                        break
            if len(batch) < 500:
                break
            end = "(" + as_text(batch[-1][0])
        return entries

    # -- provider stats ---------------------------------------------------------------

    async def provider_stats(self, provider: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Recent outcomes (newest first) and the running totals of a provider."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(self.key(f"provider:{provider}:recent"), 0, -1)
            pipe.hgetall(self.key(f"provider:{provider}:totals"))
            recent, totals = await pipe.execute()
        return [json.loads(r) for r in recent], text_fields(totals)

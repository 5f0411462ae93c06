"""The ledger: what the gateway writes after answering (usage records, provider outcomes,
cache writes and cache-hit counts), kept off the response path and written in batches.

A call hands its writes to the ledger and is answered; a background flusher writes what is
pending in one MULTI/EXEC per batch (so a batch lands whole or not at all), adding up the
hourly rollups, provider counters and cache-hit counts of the batch before it writes them.
The queue is bounded: a call that finds it full writes it itself before it goes on
(back-pressure, nothing dropped). Only when Redis refuses every write for that long are the
oldest records dropped, counted and logged. `flush()` writes everything pending now (the
gateway's own reports call it first, so a caller sees its calls at once); `aclose()` stops
the flusher and writes what is left (shutdown). What is pending is also read back: a cache
write still pending answers a lookup of its key.

Budgets are not here: a budget decides requests, so what a call spent is added to it on the
response path (`GatewayRepository.spend`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from eco_llm_gateway.repository import HOUR, GatewayRepository, stream_fields, usage_increments
from eco_shared.models.llm_gateway import UsageRecord

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One provider call: answered or failed (with what failed, and when)."""

    provider: str
    ok: bool
    duration_ms: float
    error: str | None = None
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat().replace("+00:00", "Z"))


@dataclass(slots=True)
class Batch:
    """Writes taken from the queue together."""

    records: list[UsageRecord] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    cache: dict[str, str] = field(default_factory=dict)  # digest -> JSON, the newest wins
    cache_hits: int = 0

    def __len__(self) -> int:
        return len(self.records) + len(self.outcomes) + len(self.cache) + self.cache_hits

    def merge_into(self, later: Batch) -> None:
        """Put this (older) batch back in front of `later` (a write that failed)."""
        later.records[:0] = self.records
        later.outcomes[:0] = self.outcomes
        later.cache = {**self.cache, **later.cache}
        later.cache_hits += self.cache_hits


class Ledger:
    """Batched, bounded, flushed-on-shutdown writer of the gateway's accounting."""

    def __init__(
        self,
        repository: GatewayRepository,
        *,
        max_pending: int = 10_000,
        max_batch: int = 500,
        linger_s: float = 0.02,
    ) -> None:
        self.repo = repository
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.dropped = 0  # records given up on after Redis refused every write
        self._pending = Batch()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._writing: Batch | None = None  # the batch being written, still readable
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- what calls hand in ---------------------------------------------------------------

    async def usage(self, record: UsageRecord) -> None:
        """Queue one usage record."""
        self._pending.records.append(record)
        await self._queued()

    async def outcome(self, outcome: Outcome) -> None:
        """Queue one provider outcome."""
        self._pending.outcomes.append(outcome)
        await self._queued()

    async def cache_put(self, digest: str, value: dict[str, Any]) -> None:
        """Queue an answer for the cache (readable from `cached` until written)."""
        self._pending.cache[digest] = json.dumps(value)
        await self._queued()

    def cached(self, digest: str) -> str | None:
        """A cache write not yet in Redis for `digest` (the raw JSON), if any."""
        found = self._pending.cache.get(digest)
        if found is None and self._writing is not None:
            found = self._writing.cache.get(digest)
        return found

    async def cache_hit(self) -> None:
        """Count a lookup answered by a pending cache write."""
        self._pending.cache_hits += 1
        await self._queued()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _full(self) -> bool:
        p = self._pending
        return max(len(p.records), len(p.outcomes), len(p.cache)) >= self.max_pending

    async def _queued(self) -> None:
        if self._closed:
            await self.flush()  # after shutdown began: nobody else will write it
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="llm-gateway-ledger")
        self._wake.set()
        if self._full():
            try:
                await self.flush()  # back-pressure: the caller writes the queue itself
            except Exception:
                log.exception("ledger_flush_failed", pending=self.pending)
                self._shed()

    # -- writing --------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write everything pending now (raises when Redis refuses; nothing is lost then)."""
        async with self._lock:
            if not self.pending:
                return
            batch, self._pending = self._pending, Batch()
            self._writing = batch
            try:
                await self._write(batch)
            except BaseException:
                batch.merge_into(self._pending)  # in front of what came meanwhile
                raise
            finally:
                self._writing = None

    def _shed(self) -> None:
        """Keep the queue bounded while Redis refuses writes: drop the oldest writes."""
        p, limit = self._pending, self.max_pending
        excess = len(p.records) - limit
        if excess > 0:
            del p.records[:excess]
            self.dropped += excess
            log.error("usage_records_dropped", dropped=excess, total_dropped=self.dropped)
        del p.outcomes[: max(0, len(p.outcomes) - limit)]
        if len(p.cache) > limit:
            p.cache.clear()  # a cache is allowed to forget

    async def _run(self) -> None:
        backoff = self.linger_s
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.linger_s)  # let a batch gather
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.warning("ledger_flush_failed", pending=self.pending, exc_info=True)
                self._wake.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            else:
                backoff = self.linger_s

    async def aclose(self, attempts: int = 5) -> None:
        """Stop the flusher and write what is left (shutdown)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for attempt in range(attempts):
            try:
                await self.flush()
                return
            except Exception:
                log.warning("ledger_flush_failed", pending=self.pending, exc_info=True)
                await asyncio.sleep(0.2 * (attempt + 1))
        self.dropped += len(self._pending.records)
        log.error("usage_records_lost_at_shutdown", lost=len(self._pending.records))

    async def _write(self, batch: Batch) -> None:
        """A batch in one MULTI/EXEC per `max_batch` records (the rest with the last one)."""
        records = batch.records
        while True:
            chunk, last = records[: self.max_batch], len(records) <= self.max_batch
            async with self.repo.redis.pipeline(transaction=True) as pipe:
                self._usage(pipe, chunk)
                if last:
                    self._outcomes(pipe, batch.outcomes)
                    self._cache(pipe, batch)
                await pipe.execute()
            if last:
                return
            del records[: len(chunk)]  # written: a later failure must not write them again

    def _usage(self, pipe: Any, records: list[UsageRecord]) -> None:
        if not records:
            return
        repo, settings = self.repo, self.repo.settings
        hour = int(time.time() // HOUR) * HOUR
        retention = settings.usage_retention_days * 86400
        rollup = repo.key(f"usage:hour:{hour}")
        ints: dict[str, int] = defaultdict(int)
        costs: dict[str, float] = defaultdict(float)
        for record in records:
            pipe.xadd(
                repo.key("usage:log"),
                stream_fields(record),
                maxlen=settings.usage_log_max_entries,
                approximate=True,
            )
            prefix = f"{record.caller}|{record.provider}|"
            for metric, value in usage_increments(record).items():
                if metric == "cost_usd":
                    costs[prefix + metric] += value
                else:
                    ints[prefix + metric] += int(value)
        for name, count in ints.items():
            if count:
                pipe.hincrby(rollup, name, count)
        for name, cost in costs.items():
            if cost:
                pipe.hincrbyfloat(rollup, name, round(cost, 8))
        pipe.expire(rollup, retention + HOUR)
        pipe.zadd(repo.key("usage:hours"), {str(hour): hour})
        pipe.zremrangebyscore(repo.key("usage:hours"), "-inf", f"({hour - retention}")

    def _outcomes(self, pipe: Any, outcomes: list[Outcome]) -> None:
        by_provider: dict[str, list[Outcome]] = defaultdict(list)
        for outcome in outcomes:
            by_provider[outcome.provider].append(outcome)
        window = self.repo.settings.provider_stats_window
        for provider, calls in by_provider.items():
            recent = self.repo.key(f"provider:{provider}:recent")
            totals = self.repo.key(f"provider:{provider}:totals")
            entries = [json.dumps({"ok": c.ok, "ms": round(c.duration_ms, 2)}) for c in calls]
            pipe.lpush(recent, *entries[-window:])  # the newest ends up first
            pipe.ltrim(recent, 0, window - 1)
            pipe.hincrby(totals, "calls", len(calls))
            failed = [c for c in calls if not c.ok]
            if failed:
                pipe.hincrby(totals, "errors", len(failed))
                newest = failed[-1]
                error = {"last_error": (newest.error or "")[:300], "last_error_at": newest.at}
                pipe.hset(totals, mapping=error)

    def _cache(self, pipe: Any, batch: Batch) -> None:
        ttl = self.repo.settings.cache_ttl_s
        for digest, raw in batch.cache.items():
            pipe.set(self.repo.key(f"cache:{digest}"), raw, ex=ttl)
        if batch.cache_hits:
            pipe.hincrby(self.repo.key("cache-stats"), "hits", batch.cache_hits)

"""`Consumer`: one named member of a consumer group, run as a loop until stopped.

It reads new entries, resumes its own pending ones after a restart, reclaims entries
idle in dead consumers, hands decoded events to its handler, ACKs what succeeded and
moves to the DLQ what failed `max_deliveries` times or cannot be decoded.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
import time as _time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

import structlog
from redis.exceptions import RedisError, ResponseError

from eco_shared._closing import AsyncClosing
from eco_shared.bus._dead_letters import DeadEntry
from eco_shared.bus._dispatch import BatchHandler, Dispatcher, EventHandler, failure_reason
from eco_shared.bus._event import DLQ, Event, MalformedEvent, utc_now_rfc3339
from eco_shared.bus._group import FAILURES_KEY, GroupMember
from eco_shared.streams import RawEntry, as_text

if TYPE_CHECKING:
    from eco_shared.bus._publisher import EventBus

_BACKOFF_BASE_S = 0.1
_BACKOFF_CAP_S = 5.0

_log = structlog.get_logger()


class _Backoff:
    """Capped exponential back-off with jitter, reset after a successful round."""

    def __init__(self) -> None:
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * float(1 << self.attempt))
        self.attempt = min(self.attempt + 1, 16)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.attempt = 0


class Consumer(AsyncClosing):
    """One named consumer of a consumer group: reads, handles, ACKs, reclaims, dead-letters."""

    def __init__(
        self,
        bus: EventBus,
        stream: str,
        group: str,
        handler: EventHandler | BatchHandler,
        *,
        name: str | None = None,
        batch_size: int = 100,
        block_ms: int = 1000,
        reclaim_idle_ms: int = 30_000,
        reclaim_interval_s: float | None = None,
        max_deliveries: int = 5,
        batch_handler: bool = False,
    ) -> None:
        if batch_size < 1 or block_ms < 1 or reclaim_idle_ms < 1 or max_deliveries < 1:
            raise ValueError(
                "batch_size, block_ms, reclaim_idle_ms and max_deliveries must be >= 1"
            )
        self.bus = bus
        self.redis = bus.redis
        self.stream = stream
        self.group = group
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.handler = handler
        self.batch_handler = batch_handler
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.reclaim_idle_ms = reclaim_idle_ms
        if reclaim_interval_s is None:
            reclaim_interval_s = min(reclaim_idle_ms / 2000, 60.0)
        self.reclaim_interval_s = max(reclaim_interval_s, 0.01)
        self.max_deliveries = max_deliveries
        self._member = GroupMember(
            redis=bus.redis,
            key=bus.key(stream),
            group=group,
            name=self.name,
            failures_key=bus.key(f"{FAILURES_KEY}{stream}:{group}"),
            dlq_key=bus.key(DLQ),
            batch_size=batch_size,
            dlq_maxlen=bus.maxlen,
        )
        self._dispatcher = Dispatcher(
            handler,
            batch=batch_handler,
            stream=stream,
            group=group,
            consumer=self.name,
            stopping=lambda: self._stopping,
            log=lambda: self._log,
        )
        self.handler_name = self._dispatcher.name
        self._stopping = False
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._done.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def _log(self) -> Any:
        # bound at each call, so a logging set-up made after this consumer still applies
        return _log.bind(stream=self.stream, group=self.group, consumer=self.name)

    @property
    def running(self) -> bool:
        """Whether the loop is running."""
        return not self._done.is_set()

    async def ensure_group(self) -> None:
        """Create this consumer's group if it does not exist yet."""
        await self.bus.ensure_group(self.stream, self.group)

    def start(self) -> asyncio.Task[None]:
        """Run the loop as a task of the current event loop and return it."""
        if self.running:
            raise RuntimeError(f"consumer {self.name} is already running")
        self._reset()
        self._task = asyncio.create_task(self._run(), name=f"bus-consumer-{self.name}")
        return self._task

    async def run(self) -> None:
        """Run the loop until `stop()` is called (or the task is cancelled)."""
        if self.running:
            raise RuntimeError(f"consumer {self.name} is already running")
        self._reset()
        self._task = asyncio.current_task()
        await self._run()

    async def stop(self, timeout: float | None = 10.0) -> None:
        """Let the running handler finish and ACK, then end the loop; cancel after `timeout`."""
        self._stopping = True
        self._wake.set()
        task = self._task
        # called from a handler: the loop ends once that handler returns
        if not self.running or (task is not None and task is asyncio.current_task()):
            return
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            self._log.warning("bus_consumer_stop_timeout", timeout_s=timeout)
            if task is not None:
                task.cancel()
        if task is not None:
            await asyncio.wait({task})

    async def close(self) -> None:
        """`stop()` with its default timeout: what leaving `async with` does."""
        await self.stop()

    async def __aenter__(self) -> Self:
        await self.ensure_group()
        self.start()
        return self

    def _reset(self) -> None:
        self._stopping = False
        self._wake.clear()
        self._done.clear()

    async def _run(self) -> None:
        backoff = _Backoff()
        need_group = need_history = True
        next_reclaim = 0.0
        self._log.info("bus_consumer_started")
        try:
            while not self._stopping:
                try:
                    if need_group:
                        await self.ensure_group()
                        need_group = False
                    if need_history:
                        await self._resume_own_pending()
                        need_history = False
                    if _time.monotonic() >= next_reclaim:
                        await self._reclaim()
                        # Keep the stream to what some group still needs (MAXLEN is only
                        # the safety cap): every consumer may do this, it is idempotent.
                        await self.bus.trim_consumed(self.stream)
                        next_reclaim = _time.monotonic() + self.reclaim_interval_s
                    if self._stopping:
                        break
                    block = int((next_reclaim - _time.monotonic()) * 1000)
                    entries = await self._member.read_new(max(1, min(self.block_ms, block)))
                    # fetched after stop() was asked: they stay pending for a restart or reclaim
                    if entries and not self._stopping:
                        await self._process(entries)
                    backoff.reset()
                except (RedisError, OSError) as exc:
                    if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                        need_group = True
                    need_history = True
                    delay = backoff.next_delay()
                    self._log.warning(
                        "bus_redis_error", error=failure_reason(exc), retry_in_s=round(delay, 3)
                    )
                    await self._sleep(delay)
                except Exception as exc:  # a bug must not kill the consumer, nor spin it
                    delay = backoff.next_delay()
                    self._log.exception(
                        "bus_consumer_error", error=failure_reason(exc), retry_in_s=round(delay, 3)
                    )
                    await self._sleep(delay)
        finally:
            self._done.set()
            self._log.info("bus_consumer_stopped")

    async def _sleep(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), delay)
        except TimeoutError:
            pass

    async def _resume_own_pending(self) -> None:
        """Re-read this consumer's own pending entries (a restart under the same name)."""
        last: Any = "0"
        while not self._stopping:
            entries = await self._member.read_own(last)
            if not entries:
                return
            last = entries[-1][0]
            # an entry deleted from the stream comes back with no fields
            deleted = [as_text(entry_id) for entry_id, fields in entries if not fields]
            live = [(entry_id, fields) for entry_id, fields in entries if fields]
            await self._redelivered(live, deleted)

    async def _reclaim(self) -> None:
        """XAUTOCLAIM entries idle longer than `reclaim_idle_ms`, in cursor order."""
        cursor: str | None = "0-0"
        while cursor is not None and not self._stopping:
            cursor, live, deleted = await self._member.autoclaim(cursor, self.reclaim_idle_ms)
            await self._redelivered(live, deleted)

    async def _redelivered(self, live: list[RawEntry], deleted: list[str]) -> None:
        """Drop entries deleted from the stream; handle the rest with their Redis counts."""
        if deleted:
            await self._member.drop(deleted)
            self._log.warning("bus_deleted_entries_dropped", count=len(deleted))
        if not live:
            return
        ids = [as_text(entry_id) for entry_id, _ in live]
        deliveries, recorded = await self._member.deliveries(ids)
        mine = [entry for entry, entry_id in zip(live, ids, strict=True) if entry_id in deliveries]
        if mine:
            await self._process(mine, deliveries, recorded)

    async def _process(
        self,
        entries: Sequence[RawEntry],
        deliveries: Mapping[str, int] | None = None,
        recorded: Mapping[str, str] | None = None,
    ) -> None:
        """Decode, handle and settle one batch (fresh entries have been delivered once)."""
        events: list[Event] = []
        dead: list[DeadEntry] = []
        stream = self.stream
        for raw_id, fields in entries:
            entry_id = as_text(raw_id)
            count = deliveries[entry_id] if deliveries is not None else 1
            if count > self.max_deliveries:
                reason = (recorded or {}).get(entry_id) or "max deliveries exceeded"
                # this delivery was not handed to the handler: count only the ones that were
                dead.append(DeadEntry(entry_id, fields, reason, count - 1))
                continue
            try:
                events.append(
                    Event.from_fields(fields, stream=stream, entry_id=entry_id, deliveries=count)
                )
            except MalformedEvent as exc:
                dead.append(DeadEntry(entry_id, fields, f"malformed: {exc}", count))
        acked, failed = await self._dispatcher.handle(events)
        await self._settle(entries, acked, failed, dead)

    async def _settle(
        self,
        entries: Sequence[RawEntry],
        acked: list[Event],
        failed: list[tuple[Event, str]],
        dead: list[DeadEntry],
    ) -> None:
        """ACK successes in one call; record failures; dead-letter atomically with the ACK."""
        record: dict[str, str] = {}
        if failed:
            raw = {as_text(entry_id): fields for entry_id, fields in entries}
            for event, reason in failed:
                if event.deliveries >= self.max_deliveries:
                    dead.append(
                        DeadEntry(event.entry_id, raw[event.entry_id], reason, event.deliveries)
                    )
                else:
                    record[event.entry_id] = reason
        now = utc_now_rfc3339() if dead else ""
        await self._member.settle(
            [e.entry_id for e in acked],
            forget=[e.entry_id for e in acked if e.deliveries > 1],
            record=record,
            dead=[
                (
                    item.entry_id,
                    item.dlq_fields(
                        stream=self.stream,
                        group=self.group,
                        handler=self.handler_name,
                        consumer=self.name,
                        now=now,
                    ),
                )
                for item in dead
            ],
        )
        for item in dead:
            self._log.error(
                "bus_event_dead_lettered",
                entry_id=item.entry_id,
                handler=self.handler_name,
                reason=item.reason,
                deliveries=item.deliveries,
            )

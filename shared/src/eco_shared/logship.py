"""Ship every structlog record to `eco.logs` without ever blocking the code that logs.

`LogShipper.sink` (registered with `add_log_sink`) only appends the record to a bounded
in-process queue; a background task XADDs the queue in pipelined batches. When Redis is
slow or unreachable the queue fills up and further records are dropped and counted
(`eco_log_records_dropped_total` in the service's `/metrics`, and per instance in the
`eco.logs.dropped` hash the log collector reports). Records always reach stdout anyway:
that is the logging handler's job, not the shipper's.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import MutableMapping
from typing import Any

import redis.asyncio as aioredis
import structlog
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import CollectorRegistry, Counter
from redis.exceptions import RedisError, ResponseError

from eco_shared.bus import LOGS, envelope_fields, new_event_id, utc_now_rfc3339
from eco_shared.logging import add_log_sink, remove_log_sink

__all__ = ["DROPPED_KEY", "LOG_RECORD_TYPE", "LogShipper"]

LOG_RECORD_TYPE = "log.record"
DROPPED_KEY = "eco.logs.dropped"

_log = structlog.get_logger(__name__)
_BACKOFF_MIN_S = 0.2
_BACKOFF_MAX_S = 5.0


def _json_default(value: Any) -> str:
    return str(value)


class LogShipper:
    """A bounded queue of log records and the task that XADDs it to `eco.logs` in batches."""

    def __init__(
        self,
        source: str,
        *,
        instance_id: str | None = None,
        prefix: str = "",
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.1,
        maxlen: int = 1_000_000,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if max_queue < 1 or batch_size < 1 or flush_interval_s <= 0:
            raise ValueError("max_queue and batch_size must be >= 1, flush_interval_s > 0")
        self.source = source
        self.instance_id = instance_id or source
        self.stream_key = f"{prefix}{LOGS}"
        self.dropped_key = f"{prefix}{DROPPED_KEY}"
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.maxlen = maxlen
        self._queue: deque[MutableMapping[str, Any]] = deque()
        # a batch XADD failed on: resent first, with the same ids, once Redis answers
        self._retry: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._dropped = 0
        self._unreported = 0
        self._shipped = 0
        self._redis: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._wake_pending = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failing = False
        self._dropped_counter = Counter(
            "eco_log_records_dropped",
            "Log records not shipped to eco.logs (queue full while Redis was slow or away).",
            registry=registry,
        )
        self._shipped_counter = Counter(
            "eco_log_records_shipped",
            "Log records written to eco.logs.",
            registry=registry,
        )

    @property
    def dropped(self) -> int:
        """Records dropped since this shipper was made."""
        return self._dropped

    @property
    def shipped(self) -> int:
        """Records written to the stream since this shipper was made."""
        return self._shipped

    @property
    def queued(self) -> int:
        """Records waiting to be shipped."""
        return len(self._queue) + len(self._retry)

    def sink(self, record: MutableMapping[str, Any]) -> None:
        """Queue one finished record (any thread; never blocks, drops when full)."""
        if self._stopping:
            return
        if len(self._queue) + len(self._retry) >= self.max_queue:
            self._count_dropped(1)
            return
        self._queue.append(record)
        if len(self._queue) >= self.batch_size and not self._wake_pending:
            self._wake_soon()

    def _count_dropped(self, count: int) -> None:
        with self._lock:
            self._dropped += count
            self._unreported += count
        self._dropped_counter.inc(count)

    def _wake_soon(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        self._wake_pending = True
        if threading.get_ident() == self._loop_thread:
            wake.set()
        else:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop is closed
                pass

    def start(self, redis: aioredis.Redis) -> None:
        """Register the sink and start shipping with `redis` on the running loop."""
        if self._task is not None and not self._task.done():
            raise RuntimeError("the log shipper is already running")
        self._redis = redis
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._stopping = False
        # its own XADDs must not become spans (each flush would start a trace of its own)
        with suppress_instrumentation():
            self._task = asyncio.create_task(self._run(), name="eco-log-shipper")
        add_log_sink(self.sink)

    async def stop(self, timeout_s: float = 3.0) -> None:
        """Stop taking records, ship what is queued (for up to `timeout_s`), end the task."""
        remove_log_sink(self.sink)
        self._stopping = True
        task = self._task
        if task is None:
            return
        if self._wake is not None:
            self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._task = None

    async def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything queued so far has been shipped; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.queued:
            if self._wake is not None:
                self._wake.set()
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def _run(self) -> None:
        assert self._wake is not None
        backoff = _BACKOFF_MIN_S
        while True:
            if not self._retry and not self._queue:
                if self._stopping:
                    return
                try:
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
                except TimeoutError:
                    pass
                self._wake.clear()
                self._wake_pending = False
                continue
            batch: list[dict[str, str]] = []
            try:
                batch = self._retry or self._take()
                self._retry = []
                await self._send(batch)
            except ResponseError as exc:
                # Redis refused the commands themselves: resending would fail forever
                self._count_dropped(len(batch))
                _log.warning("log_batch_refused", error=str(exc)[:500], records=len(batch))
                continue
            except (RedisError, OSError) as exc:
                self._retry = batch
                if not self._failing:
                    self._failing = True
                    _log.warning("log_shipping_failed", error=f"{type(exc).__name__}: {exc}")
                if self._stopping:
                    return
                try:
                    await asyncio.wait_for(self._wake.wait(), backoff)
                except TimeoutError:
                    pass
                self._wake.clear()
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            except Exception as exc:  # a bug must not end shipping for the process's life
                self._retry = []
                self._count_dropped(len(batch))
                _log.exception("log_batch_failed", error=f"{type(exc).__name__}: {exc}"[:500])
                await asyncio.sleep(_BACKOFF_MIN_S)
                continue
            backoff = _BACKOFF_MIN_S
            if self._failing:
                self._failing = False
                _log.info("log_shipping_resumed", dropped_total=self._dropped)

    def _take(self) -> list[dict[str, str]]:
        batch = []
        for _ in range(min(self.batch_size, len(self._queue))):
            batch.append(self._fields(self._queue.popleft()))
        return batch

    def _fields(self, record: MutableMapping[str, Any]) -> dict[str, str]:
        data = {k: v for k, v in record.items() if not k.startswith("_")}
        timestamp = data.get("timestamp")
        return envelope_fields(
            id=new_event_id(),
            source=self.source,
            type=LOG_RECORD_TYPE,
            time=timestamp if isinstance(timestamp, str) else utc_now_rfc3339(),
            # a log record is not a message of a trace; its trace_id/span_id are in data
            traceparent="",
            data=data,
            json_default=_json_default,
        )

    async def _send(self, batch: list[dict[str, str]]) -> None:
        assert self._redis is not None
        with self._lock:
            unreported = self._unreported
        pipe = self._redis.pipeline(transaction=False)
        for fields in batch:
            pipe.xadd(self.stream_key, fields, maxlen=self.maxlen, approximate=True)  # type: ignore[arg-type]
        if unreported:
            pipe.hincrby(self.dropped_key, self.instance_id, unreported)
        await pipe.execute()
        if unreported:
            with self._lock:
                self._unreported -= unreported
        self._shipped += len(batch)
        self._shipped_counter.inc(len(batch))

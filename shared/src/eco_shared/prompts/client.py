"""The orchestrator's client of the prompt store: cached, sticky, and never left without a prompt.

`resolve(name, label, unit_id=...)` answers from memory when it can: a fresh entry at once
(`cache`), a stale one at once too while it is revalidated in the background with its ETag
(stale-while-revalidate). The store's watch feed invalidates a label the moment it moves.
A 404 (no such prompt or label) and an outage (connect error, timeout, 5xx, an open
circuit) are told apart: an outage serves the last good resolution (`stale`), else the
on-disk snapshot (`snapshot`), else the seed shipped in code (`seed`); a 404 falls back to
the seed only when there is one for that name. Experiment arms are assigned here, from the
cached definition (`eco_shared.prompts.assign`), so assignment is sticky and needs no store;
each assignment is queued as an exposure and sent in batches, best effort.

The hit path does no I/O, no validation and no logging: a dict lookup, a clock read and, in
an experiment, one sha256.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import structlog

from eco_shared.adapters._base import AdapterError
from eco_shared.auth import acting_for
from eco_shared.directory import ServiceNotFoundError
from eco_shared.http import ServiceCallError
from eco_shared.prompts import template
from eco_shared.prompts.assign import assign
from eco_shared.prompts.snapshot import Entry, ResolvedPrompt, Seed, Snapshot, SnapshotEntry
from eco_shared.supervise import run_every, start_supervised

__all__ = [
    "MAX_EXPOSURE_BATCH",
    "PromptClient",
    "PromptNotFound",
    "PromptStore",
    "PromptUnavailable",
    "ResolvedPrompt",
    "Seed",
]

log = structlog.get_logger(__name__)

# (experiment_id, arm, unit_id, run_id, unix time): a tuple, so the hit path stays cheap
_Exposure = tuple[str, str, str, str | None, float]

MAX_EXPOSURE_BATCH = 500  # the store's limit per POST /exposures
# errors of the store being away (not of the prompt being absent)
_OUTAGES = (ServiceCallError, ServiceNotFoundError, httpx.HTTPError, OSError, TimeoutError)


class PromptStore(Protocol):
    """What the client needs of `PromptStoreAdapter`."""

    async def resolution(self, name: str, label: str, etag: str | None = None) -> Any: ...

    def watch(self, last_event_id: str | None = None) -> AsyncIterator[Any]: ...

    async def record_exposures(self, items: list[dict[str, Any]]) -> Any: ...


class PromptNotFound(LookupError):
    """The store has no such prompt or label, and no seed of that name exists."""


class PromptUnavailable(LookupError):
    """The store is unreachable and no copy of the prompt exists (memory, snapshot, seed)."""


def _as_json(result: Any) -> dict[str, Any]:
    if hasattr(result, "model_dump"):
        data: dict[str, Any] = result.model_dump(mode="json")
        return data
    return dict(result)


class PromptClient:
    """Resolve prompts by label through the store, its caches and the seeds (see module)."""

    def __init__(
        self,
        store: PromptStore,
        *,
        snapshot_path: Path | None = None,
        seeds: Mapping[str, Seed] | None = None,
        ttl_s: float = 60.0,
        retry_s: float = 2.0,
        fetch_timeout_s: float = 5.0,
        exposure_buffer: int = 10_000,
        exposure_flush_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.seeds: dict[str, Seed] = dict(seeds or {})
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self.fetch_timeout_s = fetch_timeout_s
        self.exposure_flush_s = exposure_flush_s
        self._clock = clock
        self._entries: dict[tuple[str, str], Entry] = {}
        self._snapshot = Snapshot(snapshot_path) if snapshot_path is not None else None
        self._on_disk: dict[tuple[str, str], SnapshotEntry] | None = None
        self._refreshing: dict[tuple[str, str], asyncio.Task[Any]] = {}
        self._moved: set[tuple[str, str]] = set()  # moved while its fetch was in flight
        self._write_lock = asyncio.Lock()
        self._exposures: deque[_Exposure] = deque(maxlen=exposure_buffer)
        self.exposures_dropped = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.last_event_id: str | None = None
        self.watching = False

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, *, watch: bool = True) -> None:
        """Start the watch feed (supervised) and the exposure sender."""
        clean = contextvars.Context()  # no caller's grant or call recorder leaks into them
        if watch:
            self._tasks.append(clean.run(start_supervised, "prompt-watch", self._watch))
        self._tasks.append(
            clean.run(
                asyncio.create_task,
                run_every("prompt-exposures", self.exposure_flush_s, self.flush_exposures),
                name="prompt-exposures",
            )
        )

    async def aclose(self) -> None:
        """Stop the background tasks, then send what exposures are left (best effort)."""
        tasks = [*self._tasks, *self._refreshing.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush_exposures(), self.fetch_timeout_s)

    # --- resolving ---------------------------------------------------------------------

    async def resolve(
        self,
        name: str,
        label: str = "production",
        *,
        unit_id: str | None = None,
        run_id: str | None = None,
    ) -> ResolvedPrompt:
        """The prompt `label` points at (an experiment's arm for `unit_id`, when one runs)."""
        entry = self._entries.get((name, label))
        if entry is None or entry.invalid:
            entry = await self._first(name, label)
        elif self._clock() >= entry.expires_at:
            self._refresh_soon(name, label)
        if entry.experiment_id is None or unit_id is None or entry.plain is None:
            assert entry.plain is not None
            return entry.plain
        arm = assign(entry.salt, unit_id, entry.arms)
        self._expose(entry.experiment_id, arm, unit_id, run_id)
        return entry.by_arm[arm]

    def render(self, resolved: ResolvedPrompt, variables: Mapping[str, Any]) -> str:
        """The prompt rendered with `variables` (its declared ones); `TemplateError` names
        each missing, unknown or mistyped variable."""
        declared = resolved.variables or None
        return template.render(resolved.text, resolved.syntax, variables, declared)

    def invalidate(self, name: str | None = None, label: str | None = None) -> None:
        """Cached labels (all, a prompt's, or one) moved: the next use waits for the store
        (or, if it is away, serves the last good copy) instead of serving them again."""
        for (n, lbl), entry in list(self._entries.items()):
            if (name is None or n == name) and (label is None or lbl == label):
                entry.invalid = True
                self._moved.add((n, lbl))
                self._refresh_soon(n, lbl)

    def expire(self) -> None:
        """Every cached label is due: served once more, revalidated in the background."""
        for entry in self._entries.values():
            entry.expires_at = 0.0

    async def _first(self, name: str, label: str) -> Entry:
        task = self._refreshing.get((name, label)) or self._spawn((name, label), name, label)
        entry: Entry = await asyncio.shield(task)
        return entry

    def _refresh_soon(self, name: str, label: str) -> None:
        key = (name, label)
        if key not in self._refreshing:
            self._spawn(key, name, label)

    def _spawn(self, key: tuple[str, str], name: str, label: str) -> asyncio.Task[Any]:
        # a clean context: the refresh is the client's call, not the caller's run
        coro = self._fetch(name, label)
        task = contextvars.Context().run(asyncio.create_task, coro, name=f"prompt-{name}")
        self._refreshing[key] = task
        task.add_done_callback(lambda t: self._done(key, t))
        return task

    def _done(self, key: tuple[str, str], task: asyncio.Task[Any]) -> None:
        if self._refreshing.get(key) is task:
            del self._refreshing[key]
        if not task.cancelled():
            task.exception()  # retrieved: a refresh's PromptNotFound is its waiter's to see

    async def _fetch(self, name: str, label: str) -> Entry:
        """Ask the store (with the cached ETag); on an outage or a 404, fall back."""
        key = (name, label)
        self._moved.discard(key)
        entry = self._entries.get(key)
        etag = entry.etag if entry is not None and entry.source != "seed" else None
        try:
            with acting_for(None):  # the orchestrator's own prompts, not the run's user's
                result = await asyncio.wait_for(
                    self.store.resolution(name, label, etag=etag), self.fetch_timeout_s
                )
        except AdapterError as exc:
            if exc.status == 404:
                return self._absent(name, label, str(exc))
            return await self._outage(name, label, exc)
        except _OUTAGES as exc:
            return await self._outage(name, label, exc)
        now = self._clock()
        if result is None:  # 304: what we hold is current
            assert entry is not None
            if entry.source != "cache":
                entry.serve_as("cache")
            entry.expires_at, entry.invalid = now + self.ttl_s, key in self._moved
            return entry
        resolution = _as_json(result)
        fresh = Entry(resolution, getattr(result, "etag", None), label, now + self.ttl_s)
        served = Entry(resolution, fresh.etag, label, fresh.expires_at).serve_as("store")
        self._entries[key] = fresh.serve_as("cache")
        fresh.invalid = key in self._moved  # it moved again meanwhile: fetch once more
        await self._write_snapshot(key, SnapshotEntry(resolution, fresh.etag))
        return served

    def _absent(self, name: str, label: str, reason: str) -> Entry:
        self._entries.pop((name, label), None)
        seed = self.seeds.get(name)
        if seed is None:
            raise PromptNotFound(f"prompt {name!r} has no label {label!r}: {reason}")
        log.info("prompt_seed_served", prompt=name, label=label, reason="not in the store")
        return self._seed_entry(seed, label)

    async def _outage(self, name: str, label: str, exc: BaseException) -> Entry:
        key = (name, label)
        now = self._clock()
        error = f"{type(exc).__name__}: {exc}"[:300]
        entry = self._entries.get(key)
        if entry is not None:
            if entry.source == "cache":
                entry.serve_as("stale")
            entry.expires_at, entry.invalid = now + self.retry_s, False
        elif (on_disk := (await self._disk()).get(key)) is not None:
            entry = Entry(on_disk.resolution, on_disk.etag, label, now + self.retry_s)
            self._entries[key] = entry.serve_as("snapshot")
        elif name in self.seeds:
            entry = self._seed_entry(self.seeds[name], label)
        else:
            raise PromptUnavailable(
                f"the prompt store is unreachable and there is no copy of {name!r}: {error}"
            ) from exc
        log.warning(
            "prompt_store_unreachable", prompt=name, label=label, serving=entry.source, error=error
        )
        return entry

    def _seed_entry(self, seed: Seed, label: str) -> Entry:
        prompt = ResolvedPrompt(
            name=seed.name,
            version=None,
            sha256=seed.sha256,
            text=seed.text,
            syntax=seed.syntax,
            variables=seed.variables,
            config=seed.config,
            label=label,
            source="seed",
        )
        entry = Entry({}, None, label, self._clock() + self.retry_s, source="seed", plain=prompt)
        self._entries[(seed.name, label)] = entry
        return entry

    # --- the snapshot ------------------------------------------------------------------

    async def _disk(self) -> dict[tuple[str, str], SnapshotEntry]:
        if self._on_disk is None:
            snapshot = self._snapshot
            self._on_disk = await asyncio.to_thread(snapshot.load) if snapshot else {}
        return self._on_disk

    async def _write_snapshot(self, key: tuple[str, str], item: SnapshotEntry) -> None:
        if self._snapshot is None:
            return
        async with self._write_lock:
            entries = dict(await self._disk())
            entries[key] = item
            self._on_disk = entries
            try:
                await asyncio.to_thread(self._snapshot.write, entries)
            except OSError as exc:
                log.warning("prompt_snapshot_write_failed", error=str(exc))

    # --- the watch feed ----------------------------------------------------------------

    async def _watch(self) -> None:
        """Invalidate each label the store says moved; any gap in the feed expires all."""
        try:
            async for event in self.store.watch(last_event_id=self.last_event_id):
                self.watching = True
                data = event.data if hasattr(event, "data") else event
                if isinstance(data, str):
                    continue
                event_id = getattr(event, "cursor", None)  # the SSE id, to resume from
                if event_id:
                    self.last_event_id = str(event_id)
                name, label = data.get("name"), data.get("label")
                if name is not None:
                    self.invalidate(str(name), str(label) if label is not None else None)
        except (AdapterError, *_OUTAGES) as exc:
            # the store being away (not yet registered, restarting) is expected: the
            # supervisor retries with back-off and logs a warning, not a crash
            raise ConnectionError(f"the prompt store's watch feed is away: {exc}") from exc
        finally:
            self.watching = False
            if self.last_event_id is None:
                self.expire()  # moves while disconnected cannot be replayed: revalidate

    # --- exposures ---------------------------------------------------------------------

    def _expose(self, experiment_id: str, arm: str, unit_id: str, run_id: str | None) -> None:
        if len(self._exposures) == self._exposures.maxlen:
            self.exposures_dropped += 1  # the oldest goes
        self._exposures.append((experiment_id, arm, unit_id, run_id, time.time()))

    @property
    def exposures_pending(self) -> int:
        return len(self._exposures)

    async def flush_exposures(self) -> int:
        """Send the queued exposures in batches; what fails stays queued. The count sent."""
        if self.exposures_dropped:
            log.warning("prompt_exposures_dropped", dropped=self.exposures_dropped)
            self.exposures_dropped = 0
        sent = 0
        while self._exposures:
            batch = [
                self._exposures.popleft()
                for _ in range(min(MAX_EXPOSURE_BATCH, len(self._exposures)))
            ]
            try:
                with acting_for(None):
                    await asyncio.wait_for(
                        self.store.record_exposures(_exposure_items(batch)), self.fetch_timeout_s
                    )
            except (AdapterError, *_OUTAGES) as exc:
                self._requeue(batch)
                log.warning(
                    "prompt_exposures_deferred",
                    pending=len(self._exposures),
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
                return sent
            sent += len(batch)
        return sent

    def _requeue(self, batch: Sequence[_Exposure]) -> None:
        room = (self._exposures.maxlen or 0) - len(self._exposures)
        kept = list(batch)[-room:] if room > 0 else []
        self.exposures_dropped += len(batch) - len(kept)
        self._exposures.extendleft(reversed(kept))


def _exposure_items(batch: Sequence[_Exposure]) -> list[dict[str, Any]]:
    return [
        {
            "experiment_id": experiment_id,
            "arm": arm,
            "unit_id": unit_id,
            **({"run_id": run_id} if run_id else {}),
            "at": datetime.fromtimestamp(at, UTC).isoformat(),
        }
        for experiment_id, arm, unit_id, run_id, at in batch
    ]

"""Executes runs: consumers of `eco.runs`, one run at a time each, `max_in_flight` per replica.

`max_in_flight` caps the runs a replica executes at once; the rest wait in `eco.runs`
(durable, in Redis) until a consumer is free. A run's queue entry stays pending while it
executes; the executing consumer re-claims it every few seconds (XCLAIM JUSTID resets its
idle time), so another replica takes it over with XAUTOCLAIM only when this one died. A
consumer restarted under the same name re-reads its own pending entries at once. Either
way the run resumes from its last checkpoint.

Stopping drains: no new run is taken, and each running run stops at its next node
boundary, after the node it is in has finished and been checkpointed (`drain_timeout_s`
at most, then it is interrupted mid-node). Its entry stays pending and the run resumes on
the next start or on another replica. A run that failed because Redis (the bus, the run
events) was away is deferred the same way instead of failing, until its last delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

import structlog
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Durability
from redis.exceptions import RedisError

from eco_orchestrator._outage import (
    LOCAL_RETRIES,
    RedisWatch,
    RunDeferred,
    RunInterrupted,
    await_redis,
)
from eco_orchestrator._outcomes import RunOutcomes, timings
from eco_orchestrator._progress import NodeMarks
from eco_orchestrator.events import RunEventLog
from eco_orchestrator.models import TERMINAL, Run, utcnow
from eco_orchestrator.repository import RunRepository
from eco_orchestrator.settings import OrchestratorSettings
from eco_orchestrator.workflows import RunCancelled, RunContext, build
from eco_orchestrator.workflows._base import now_iso
from eco_orchestrator.workflows._instances import InstanceIds
from eco_shared.auth import acting_for
from eco_shared.bus import Consumer, Event, EventBus
from eco_shared.directory import ServiceDirectory
from eco_shared.prompts.client import PromptClient
from eco_shared.streams import as_text
from eco_shared.supervise import run_every, start_supervised
from eco_shared.tools import ToolRegistry

log = structlog.get_logger(__name__)

RUNS_STREAM = "eco.runs"
RUNS_GROUP = "orchestrator"
CANCEL_CHANNEL = "eco.orchestrator.cancel"
# Each step's checkpoint is committed before the next step starts, so a replica that dies
# never makes another redo a finished node; with the checkpointer's SQLite at
# synchronous=NORMAL, "async" measured no faster.
DURABILITY: Durability = "sync"


class RunWorker:
    """The replica's share of the run queue."""

    def __init__(
        self,
        settings: OrchestratorSettings,
        bus: EventBus,
        repo: RunRepository,
        events: RunEventLog,
        checkpointer: BaseCheckpointSaver[str],
        tools: ToolRegistry,
        directory: ServiceDirectory,
        prompts: PromptClient | None = None,
    ) -> None:
        self.settings = settings
        self.prompts = prompts
        self.bus = bus
        self.redis = bus.redis
        self.repo = repo
        self.events = events
        self.checkpointer = checkpointer
        self.tools = tools
        self.directory = directory
        self.outcomes = RunOutcomes(repo, events)
        self.instance_ids = InstanceIds(directory)
        self.graph: CompiledStateGraph[Any, Any, Any, Any] = build(settings, checkpointer)
        self.consumers: list[Consumer] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._user_cancelled: set[str] = set()
        self._stopping = False
        self._consumer_stops: list[asyncio.Task[None]] = []
        self.redis_watch = RedisWatch(self.redis, settings.outage_grace_s)
        self._background: list[asyncio.Task[None]] = []
        self.executed = 0

    def cancel_key(self, run_id: str) -> str:
        """Redis key that marks a run as cancelled (checked at every node boundary)."""
        return self.settings.key(f"eco.orchestrator.cancelled:{run_id}")

    async def start(self) -> None:
        """Start the consumers, the cancel listener and the pruner."""
        await self.bus.ensure_group(RUNS_STREAM, RUNS_GROUP)
        for slot in range(self.settings.max_in_flight):
            name = f"{self.settings.instance_id}-{slot}"
            consumer = self.bus.subscribe(
                RUNS_STREAM,
                RUNS_GROUP,
                self._handler(name),
                consumer=name,
                batch_size=1,
                block_ms=1000,
                reclaim_idle_ms=self.settings.reclaim_idle_ms,
                max_deliveries=self.settings.max_deliveries,
            )
            consumer.start()
            self.consumers.append(consumer)
        self._background.append(start_supervised("redis-watch", self.redis_watch.run))
        self._background.append(start_supervised("run-cancels", self._listen_cancels))
        self._background.append(start_supervised("run-pruner", self._prune_loop))

    @property
    def draining(self) -> bool:
        """True once the worker was told to stop: no new runs, running ones stop at a node."""
        return self._stopping

    def begin_drain(self) -> None:
        """Stop taking runs; running runs stop after their current node (idempotent)."""
        if self._stopping:
            return
        self._stopping = True
        log.info("run_worker_draining", running=sorted(self._running))
        # a consumer's stop waits for its handler, i.e. for its run to reach a node boundary
        timeout = self.settings.drain_timeout_s + 5
        self._consumer_stops = [
            asyncio.create_task(c.stop(timeout=timeout), name=f"stop-{c.name}")
            for c in self.consumers
        ]

    async def stop(self) -> None:
        """Drain (see `begin_drain`), interrupt what is still running after the drain timeout,
        then stop the consumers and the background tasks."""
        self.begin_drain()
        running = list(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=self.settings.drain_timeout_s)
            for task in late:
                log.warning("run_interrupted_mid_node", run=task.get_name())
                task.cancel()
        await asyncio.gather(*self._consumer_stops, return_exceptions=True)
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("run_worker_stopped", executed=self.executed)

    async def request_cancel(self, run_id: str) -> None:
        """Mark a run cancelled and tell every replica to stop it now."""
        await self.redis.set(self.cancel_key(run_id), "1", ex=7 * 24 * 3600)
        await self.redis.publish(self.settings.key(CANCEL_CHANNEL), run_id)

    def _cancel_local(self, run_id: str) -> None:
        task = self._running.get(run_id)
        if task is not None and not task.done():
            self._user_cancelled.add(run_id)
            task.cancel()

    async def _listen_cancels(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.settings.key(CANCEL_CHANNEL))
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message and message.get("type") == "message":
                        data = message["data"]
                        self._cancel_local(as_text(data))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: listen again shortly
                log.warning("run_cancel_listener_error", error=str(exc))
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _prune_loop(self) -> None:
        await run_every("checkpoint-pruner", self.settings.prune_interval_s, self.prune)

    async def prune(self) -> int:
        """Delete the checkpoints of runs finished longer ago than the retention period."""
        cutoff = utcnow() - timedelta(seconds=self.settings.checkpoint_retention_s)
        pruned = 0
        for run_id in await self.repo.prunable(cutoff):
            await self.checkpointer.adelete_thread(run_id)
            await self.repo.update(run_id, checkpoints_pruned=True)
            pruned += 1
        if pruned:
            log.info("checkpoints_pruned", runs=pruned)
        return pruned

    def _handler(self, consumer_name: str) -> Any:
        async def handle(event: Event) -> None:
            await self._handle(consumer_name, event)

        handle.__qualname__ = "RunWorker.handle"
        return handle

    async def _keep_claim(self, consumer_name: str, entry_id: str) -> None:
        key = self.bus.key(RUNS_STREAM)
        while True:
            await asyncio.sleep(self.settings.claim_refresh_s())
            try:
                await self.redis.xclaim(key, RUNS_GROUP, consumer_name, 0, [entry_id], justid=True)
            except Exception as exc:  # a missed refresh is survivable; the next one may work
                log.warning("run_claim_refresh_failed", entry_id=entry_id, error=str(exc))

    async def _handle(self, consumer_name: str, event: Event) -> None:
        run_id = str(event.data.get("run_id", ""))
        action = str(event.data.get("action", "start"))
        run = await self.repo.get(run_id)
        if run is None:
            log.warning("run_entry_unknown_run", run_id=run_id, entry_id=event.entry_id)
            return
        if run.status in TERMINAL or (run.status == "waiting_review" and action == "start"):
            # done already (a redelivery after the work committed): ACK without re-executing
            return
        if self._stopping:
            raise RunInterrupted(run_id)
        task = asyncio.create_task(
            self._execute_retrying(run, action, event, consumer_name), name=f"run-{run_id}"
        )
        self._running[run_id] = task
        claim = asyncio.create_task(self._keep_claim(consumer_name, event.entry_id))
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if run_id in self._user_cancelled and not (current and current.cancelling()):
                await self.outcomes.cancelled(run_id, owner=run.owner)
                return
            task.cancel()
            if current and current.cancelling():
                raise
            with contextlib.suppress(Exception):
                await self._set_aside(run_id, "interrupted mid-node")
            raise RunInterrupted(run_id) from None
        finally:
            claim.cancel()
            self._running.pop(run_id, None)
            self._user_cancelled.discard(run_id)

    async def _is_cancelled(self, run_id: str) -> bool:
        return bool(await self.redis.exists(self.cancel_key(run_id)))

    async def _should_stop(self, run_id: str) -> bool:
        # checked at every node boundary, after the previous node's checkpoint was written
        return self._stopping or await self._is_cancelled(run_id)

    async def _set_aside(self, run_id: str, reason: str) -> None:
        """Back to the queue: the run's entry stays pending and it resumes from a checkpoint."""
        await self.repo.update(run_id, status="queued")
        with contextlib.suppress(RedisError, OSError):
            await self.events.append(run_id, "run.interrupted", reason=reason)
        log.info("run_set_aside", run_id=run_id, reason=reason)

    async def _execute_retrying(
        self, run: Run, action: str, event: Event, consumer_name: str
    ) -> None:
        """`_execute`, tried again here as soon as Redis answers when an outage deferred it.

        Leaving the entry to be reclaimed would wait `reclaim_idle_ms` first; the claim is
        kept fresh meanwhile, so no other replica takes the run while this one retries.
        """
        for attempt in range(LOCAL_RETRIES):
            try:
                await self._execute(run, action, event, consumer_name)
                return
            except RunDeferred:
                if self._stopping or attempt == LOCAL_RETRIES - 1:
                    raise
                await await_redis(self.redis, self.settings.reclaim_idle_ms / 1000)
                await asyncio.sleep(min(2.0**attempt, 5.0))
                fresh = await self.repo.get(run.id)
                if fresh is None or fresh.status in TERMINAL:
                    return
                run = fresh

    async def _execute(self, run: Run, action: str, event: Event, consumer_name: str) -> None:
        run_id = run.id
        if await self._is_cancelled(run_id):
            await self.outcomes.cancelled(run_id, owner=run.owner)
            return
        config: dict[str, Any] = {"configurable": {"thread_id": run_id}}

        marks = NodeMarks(self.repo, run_id)

        async def on_node(name: str) -> None:
            marks.mark(name)

        ctx = RunContext(
            run_id=run_id,
            settings=self.settings,
            tools=self.tools,
            directory=self.directory,
            events=self.events,
            is_cancelled=lambda: self._should_stop(run_id),
            on_node=on_node,
            owner=run.owner,
            scopes=frozenset(run.scopes) if run.scopes is not None else None,
            instances=self.instance_ids,
            prompts=self.prompts,
        )
        snapshot = await self.graph.aget_state(config)
        payload: Any
        if action == "resume" and snapshot.interrupts:
            payload = Command(resume=event.data.get("decision") or {})
        elif snapshot.next:
            payload = None  # resume from the last checkpoint
        elif snapshot.values:
            payload = "finished"
        else:
            payload = {
                "run_id": run_id,
                "query": run.query,
                "format": run.format,
                "format_explicit": run.format_explicit,
                "user_id": run.user_id,
                "review": run.review,
                "trace_id": run.trace_id,
                "started_at": now_iso(),
            }
        resumed = payload is None or isinstance(payload, Command)
        started = {
            "run_id": run_id,
            "owner": run.owner,
            "executed_by": consumer_name,
            "resumed": resumed,
        }
        await self.repo.update(
            run_id,
            status="running",
            started_at=run.started_at or utcnow(),
            error=None,
            # one more execution attempt, counted in the same write
            executions=Run.executions + 1,
            executed_by=consumer_name,
            announce=("run.started", started),
        )
        await self.events.append(
            run_id, "run.started", executed_by=consumer_name, resumed=resumed, action=action
        )
        log.info("run_started", run_id=run_id, executed_by=consumer_name, resumed=resumed)
        t0 = time.perf_counter()
        try:
            # every call the run makes carries a token acting for its owner (the grant is
            # read from the run store, so any replica resuming the run acts the same)
            with acting_for(run.run_grant):
                if payload != "finished":
                    try:
                        await self.graph.ainvoke(
                            payload, config, context=ctx, durability=DURABILITY
                        )
                    finally:
                        await marks.flush()
        except RunCancelled:
            if self._stopping and not await self._is_cancelled(run_id):
                await self._set_aside(run_id, "the replica is stopping")
                raise RunInterrupted(run_id) from None
            await self.outcomes.cancelled(run_id, owner=run.owner)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if event.deliveries < self.settings.max_deliveries and await self.redis_watch.away(exc):
                log.warning("run_deferred_redis_away", run_id=run_id, error=str(exc)[:500])
                await self._set_aside(run_id, "Redis was unavailable")
                raise RunDeferred(run_id) from exc
            error = f"{type(exc).__name__}: {exc}"
            await self.outcomes.failed(run_id, error, timings(ctx, t0), owner=run.owner)
            return
        snapshot = await self.graph.aget_state(config)
        await self.outcomes.finished(run_id, snapshot, timings(ctx, t0), owner=run.owner)
        self.executed += 1

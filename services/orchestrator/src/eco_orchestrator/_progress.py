"""A run's current node in the run table, written beside the node rather than before it."""

from __future__ import annotations

import asyncio

import structlog

from eco_orchestrator.repository import RunRepository

log = structlog.get_logger(__name__)


class NodeMarks:
    """Write `current_node` in the background, in order, skipping marks already superseded.

    It is for people watching a run, not for resuming it (the checkpoints are), so a node
    does not wait for it; `flush()` before the run's outcome is written keeps the outcome last.
    """

    def __init__(self, repo: RunRepository, run_id: str) -> None:
        self.repo = repo
        self.run_id = run_id
        self._marks = 0
        self._last: asyncio.Task[None] | None = None

    def mark(self, name: str) -> None:
        """The run entered node `name`."""
        self._marks += 1
        self._last = asyncio.create_task(self._write(self._last, self._marks, name))

    async def _write(self, previous: asyncio.Task[None] | None, number: int, name: str) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if number != self._marks:
            return  # a newer mark is queued behind this one; only the newest is worth writing
        try:
            # only while running: a mark outliving its run (cancelled mid-node) writes nothing
            await self.repo.update(self.run_id, only_if={"running"}, current_node=name)
        except Exception as exc:  # informational: the next mark or the outcome writes again
            log.warning("run_current_node_write_failed", run_id=self.run_id, error=str(exc))

    async def flush(self) -> None:
        """Until every mark made so far is written (or skipped)."""
        if self._last is not None:
            await asyncio.wait([self._last])

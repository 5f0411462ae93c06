"""Supervised background loops: an unexpected error is logged and the loop runs again."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from eco_shared.supervise import Backoff, run_every, start_supervised


async def _until(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.01)


async def test_a_crashing_loop_is_logged_and_started_again() -> None:
    runs: list[int] = []

    async def body() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise KeyError("a bug")
        await asyncio.Event().wait()  # the third run keeps going

    with structlog.testing.capture_logs() as logs:
        task = start_supervised("t-crash", body, initial_s=0.01, max_s=0.05)
        await _until(lambda: len(runs) == 3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    crashes = [e for e in logs if e["event"] == "background_task_crashed"]
    assert [e["task"] for e in crashes] == ["t-crash", "t-crash"]
    assert "KeyError" in crashes[0]["error"]
    assert task.get_name() == "t-crash"


async def test_a_loop_that_returns_is_started_again() -> None:
    runs: list[int] = []

    async def body() -> None:
        runs.append(1)

    with structlog.testing.capture_logs() as logs:
        task = start_supervised("t-return", body, initial_s=0.01, max_s=0.02)
        await _until(lambda: len(runs) >= 3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert any(e["event"] == "background_task_returned" for e in logs)


async def test_run_every_keeps_going_after_a_failing_step_and_says_it_recovered() -> None:
    calls: list[int] = []

    async def step() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("redis away")

    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(run_every("t-every", 0.01, step))
        await _until(lambda: len(calls) >= 4)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    events = [e["event"] for e in logs]
    # an outage is a warning without a traceback, not a crash
    assert "background_task_failed" in events
    assert "background_task_crashed" not in events
    assert "background_task_recovered" in events


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.1, 1.0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert 0.05 <= delays[0] <= 0.1
    assert all(0.5 <= d <= 1.0 for d in delays[4:])
    backoff.reset()
    assert backoff.next_delay() <= 0.1
    with pytest.raises(ValueError, match="initial_s"):
        Backoff(0, 1)


async def test_a_redis_error_is_an_outage_not_a_crash() -> None:
    """Redis's own errors (not OSErrors) count as an outage: a warning, no traceback."""
    from redis.exceptions import BusyLoadingError

    runs: list[int] = []

    async def body() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise BusyLoadingError("Redis is loading the dataset in memory")
        await asyncio.Event().wait()

    with structlog.testing.capture_logs() as logs:
        task = start_supervised("t-redis", body, initial_s=0.01, max_s=0.02)
        await _until(lambda: len(runs) == 2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    events = [e["event"] for e in logs]
    assert "background_task_failed" in events
    assert "background_task_crashed" not in events

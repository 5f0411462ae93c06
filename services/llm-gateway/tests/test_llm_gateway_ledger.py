"""The ledger: usage records, provider outcomes and cache writes leave the response path and
are written in batches; none is lost, not when a batch is split, not when the queue is full,
not when the gateway is stopped (a real process, SIGTERM) with writes still pending. Budgets
stay exact under concurrency."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import redis
import redis.asyncio as aioredis
from gateway_doubles import caller_headers

from eco_llm_gateway.ledger import Ledger, Outcome
from eco_llm_gateway.repository import GatewayRepository
from eco_llm_gateway.service._accounting import budget_window
from eco_llm_gateway.settings import LlmGatewaySettings
from eco_shared.auth import user_subject
from eco_shared.models.llm_gateway import UsageRecord
from eco_shared.testing import ServiceProcess

ALICE = user_subject("alice")
HELLO = [{"role": "user", "content": "Where are the docs?"}]


def record(n: int, caller: str = ALICE) -> UsageRecord:
    return UsageRecord(
        caller=caller,
        actors=[],
        key_id=None,
        requested_model="offline",
        provider="offline",
        model="extractive-1",
        status=200,
        outcome="ok",
        stream=False,
        cache_hit=False,
        tokens_in=n,
        tokens_out=1,
        cost_usd=0.0,
        duration_ms=1.0,
        task=None,
        sensitive=False,
        finding_types=[],
        route_reason=f"call {n}",
        attempts=[],
    )


def repository(client: aioredis.Redis, prefix: str) -> GatewayRepository:
    return GatewayRepository(client, LlmGatewaySettings(redis_prefix=prefix))


async def test_a_batch_split_in_chunks_writes_every_record_in_order(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    repo = repository(redis_client, redis_prefix)
    ledger = Ledger(repo, max_batch=40, linger_s=5)  # the flusher would wait: flush() writes
    for n in range(1, 101):
        await ledger.usage(record(n))
    await ledger.outcome(Outcome("offline", True, 2.0))
    await ledger.outcome(Outcome("offline", False, 3.0, "broken"))
    assert await redis_client.xlen(repo.key("usage:log")) == 0  # nothing on the response path
    await ledger.flush()
    entries = await repo.usage_log(since=None, caller=None, limit=1000)
    assert [e.route_reason for e in entries] == [f"call {n}" for n in range(100, 0, -1)]
    table, complete = await repo.usage_table(None, time.time())
    assert complete
    assert table[(ALICE, "offline")]["calls"] == 100
    assert table[(ALICE, "offline")]["tokens_in"] == sum(range(1, 101))
    recent, totals = await repo.provider_stats("offline")
    assert [r["ok"] for r in recent] == [False, True]  # newest first
    assert (totals["calls"], totals["errors"], totals["last_error"]) == ("2", "1", "broken")
    await ledger.aclose()


async def test_a_call_written_in_the_millisecond_of_the_report_is_counted(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    # A report asked right after a flush can fall in the millisecond of the last entry's
    # id; that entry is before the report and must count (it once did not: 1 of 2 calls).
    repo = repository(redis_client, redis_prefix)
    ledger = Ledger(repo, linger_s=5)
    await ledger.usage(record(1))
    await ledger.flush()
    ((entry_id, _),) = await redis_client.xrange(repo.key("usage:log"), "-", "+")
    millis = int(entry_id.decode().split("-")[0])
    until = millis / 1000 + 0.0004  # the same millisecond as the entry
    table, _ = await repo.usage_table(until - 0.5, until)
    assert table[(ALICE, "offline")]["calls"] == 1
    later, _ = await repo.usage_table(until + 0.001, until + 0.002)
    assert (ALICE, "offline") not in later  # and a window after it does not count it
    await ledger.aclose()


async def test_a_full_queue_is_written_by_the_call_that_fills_it(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    repo = repository(redis_client, redis_prefix)
    ledger = Ledger(repo, max_pending=10, linger_s=5)
    for n in range(25):
        await ledger.usage(record(n))
        assert ledger.pending < 10  # never more than it may hold
    assert await redis_client.xlen(repo.key("usage:log")) == 20  # two full queues, written
    await ledger.aclose()  # shutdown writes the rest
    assert await redis_client.xlen(repo.key("usage:log")) == 25
    assert ledger.dropped == 0


async def test_a_pending_cache_write_answers_and_is_written(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    repo = repository(redis_client, redis_prefix)
    ledger = Ledger(repo, linger_s=5)
    await ledger.cache_put("d1", {"content": "x"})
    assert ledger.cached("d1") == '{"content": "x"}'
    assert await repo.cache_get("d1") is None
    await ledger.cache_hit()
    await ledger.flush()
    assert ledger.cached("d1") is None
    assert await repo.cache_get("d1") == {"content": "x"}
    stats = await redis_client.hgetall(repo.key("cache-stats"))
    # the miss before the write, the hit it answered while pending, the hit from Redis
    assert (stats[b"misses"], stats[b"hits"]) == (b"1", b"2")
    await ledger.aclose()


async def test_a_failed_write_keeps_the_batch_for_the_next_one(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    down = Ledger(repository(dead, redis_prefix), linger_s=5)
    for n in range(5):
        await down.usage(record(n))
    try:
        await down.flush()
    except Exception:  # noqa: BLE001 - Redis is not there: the write must fail
        pass
    else:
        raise AssertionError("a write to a Redis that is down succeeded")
    assert down.pending == 5  # nothing lost
    await down.usage(record(5))  # and the queue goes on
    down.repo = repo = repository(redis_client, redis_prefix)  # Redis is back
    await down.flush()
    entries = await repo.usage_log(since=None, caller=None, limit=10)
    assert [e.route_reason for e in entries] == [f"call {n}" for n in range(5, -1, -1)]
    await dead.aclose()
    await down.aclose()


def test_usage_pending_at_sigterm_is_written_before_the_process_exits(
    start_service: Callable[..., ServiceProcess],
    eco_env: dict[str, str],
    redis_url: str,
    redis_prefix: str,
) -> None:
    env = {
        **eco_env,
        "ECO_LLM_GATEWAY_REGISTER_WITH_DISCOVERY": "false",
        # the flusher waits 5 s: what the calls leave is still pending when the signal comes
        "ECO_LLM_GATEWAY_ACCOUNTING_FLUSH_INTERVAL_S": "5",
    }
    proc = start_service(
        "eco_llm_gateway.main:create_app", env=env, port_env="ECO_LLM_GATEWAY_PORT"
    )
    headers = caller_headers(ALICE)
    calls = 12
    with httpx.Client(base_url=proc.url, headers=headers, timeout=20) as client:
        for n in range(calls):
            body = {"messages": [{"role": "user", "content": f"Question {n}?"}], "cache": False}
            assert client.post("/v1/chat/completions", json=body).status_code == 200
    store = redis.Redis.from_url(redis_url)
    stream = f"{redis_prefix}llm-gateway:usage:log"
    try:
        assert store.xlen(stream) < calls  # still pending in the process
        proc.terminate()  # SIGTERM: a graceful shutdown (uvicorn exits by the signal, -15)
        assert "Application shutdown complete" in proc.log_tail(100_000)
        entries = store.xrange(stream)
        assert len(entries) == calls
        assert {e[1][b"caller"].decode() for e in entries} == {ALICE}
        recent = store.lrange(f"{redis_prefix}llm-gateway:provider:offline:recent", 0, -1)
        assert len(recent) == calls
    finally:
        store.close()


def test_budgets_stay_exact_under_concurrent_calls(
    gateway: Callable[..., str], redis_url: str, redis_prefix: str
) -> None:
    url = gateway(budget_period="day")
    probe = httpx.post(
        f"{url}/v1/chat/completions", json={"messages": HELLO}, headers=caller_headers()
    )
    cost = probe.json()["usage"]["total_tokens"]
    budget = 3 * cost
    alice = caller_headers(ALICE, limits={"budget_tokens": budget})

    def call(_: int) -> httpx.Response:
        return httpx.post(
            f"{url}/v1/chat/completions",
            json={"messages": HELLO, "cache": False},
            headers=alice,
            timeout=30,
        )

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(8)))
    answered = [a for a in answers if a.status_code == 200]
    assert {a.status_code for a in answers} <= {200, 429}
    assert len(answered) >= 3  # it was under budget when they began
    start, _ = budget_window("day", time.time())
    store = redis.Redis.from_url(redis_url)
    try:
        spent = int(store.get(f"{redis_prefix}llm-gateway:budget:{ALICE}:{start}") or 0)
    finally:
        store.close()
    # every answered call is in the budget, exactly once, before the caller saw its answer
    assert spent == sum(a.json()["usage"]["total_tokens"] for a in answered)
    assert call(9).status_code == 429
    log = httpx.get(
        f"{url}/v1/usage/log",
        params={"limit": 100},
        headers=caller_headers("user:ops", ("gateway:read:all",)),
    ).json()["entries"]
    mine = [e for e in log if e["caller"] == ALICE]
    assert len(mine) == 9  # every call and refusal recorded, none lost in a batch
    assert sum(e["status"] == 200 for e in mine) == len(answered)

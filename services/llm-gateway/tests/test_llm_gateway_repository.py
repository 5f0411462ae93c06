"""Redis state of the gateway: the token bucket is atomic under concurrency."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from eco_llm_gateway.repository import GatewayRepository
from eco_llm_gateway.settings import LlmGatewaySettings


async def test_token_bucket_admits_exactly_its_capacity_under_concurrency(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    settings = LlmGatewaySettings(
        redis_prefix=redis_prefix, rate_limit_capacity=10, rate_limit_refill_per_s=0.01
    )
    repo = GatewayRepository(redis_client, settings)
    decisions = await asyncio.gather(*(repo.take_token("burst") for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 10
    refused = [d for d in decisions if not d.allowed]
    assert all(50 <= d.retry_after_s <= 100 for d in refused)  # one token per 100 s
    keys = [k.decode() async for k in redis_client.scan_iter(match=f"{redis_prefix}*")]
    assert keys == [f"{redis_prefix}llm-gateway:ratelimit:burst"]


async def test_token_bucket_refills(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    settings = LlmGatewaySettings(
        redis_prefix=redis_prefix, rate_limit_capacity=1, rate_limit_refill_per_s=20
    )
    repo = GatewayRepository(redis_client, settings)
    assert (await repo.take_token("c")).allowed
    assert not (await repo.take_token("c")).allowed
    await asyncio.sleep(0.1)
    assert (await repo.take_token("c")).allowed


async def test_rate_limit_zero_turns_it_off(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    settings = LlmGatewaySettings(redis_prefix=redis_prefix, rate_limit_capacity=0)
    repo = GatewayRepository(redis_client, settings)
    assert all([(await repo.take_token("c")).allowed for _ in range(5)])

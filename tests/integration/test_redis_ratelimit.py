"""Failure counters shared through real Redis, and the in-process fallback when it is down."""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

from keyloft.cache.ratelimit import RedisLimiter
from keyloft.services.ports import Limit
from tests.integration.conftest import RedisProcess


async def test_counts_are_shared_between_nodes(redis: Redis) -> None:
    node_a, node_b = RedisLimiter(redis), RedisLimiter(redis)
    subjects = [(f"client:{secrets.token_hex(8)}", Limit(failures=4, window=30))]
    for _ in range(2):
        await node_a.record_failure(subjects)
        await node_b.record_failure(subjects)
    wait = await node_b.retry_after(subjects)
    assert wait is not None
    assert 0 < wait <= 30
    assert await node_a.retry_after([(f"client:{secrets.token_hex(8)}", Limit(4, 30))]) is None


async def test_redis_down_falls_back_to_process_counts(private_redis: RedisProcess) -> None:
    client = Redis.from_url(private_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    limiter = RedisLimiter(client)
    subjects = [("login:someone", Limit(failures=2, window=60))]
    private_redis.stop()
    try:
        await limiter.record_failure(subjects)
        assert await limiter.retry_after(subjects) is None
        await limiter.record_failure(subjects)
        assert await limiter.retry_after(subjects) == 60
    finally:
        await client.aclose()

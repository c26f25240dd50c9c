"""Single use of client assertions across nodes: Redis ``SET NX`` with the assertion's expiry,
failing closed (503, never accepted) when Redis does not answer; and the store's check, whose
expired rows are purged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from keyloft.cache.replay import PREFIX, RedisReplays
from keyloft.domain.errors import StoreUnavailable
from keyloft.runtime import Runtime
from keyloft.services.replays import StoreReplays
from tests.support.redis_servers import free_port, reachable_redis


@pytest.mark.redis
async def test_redis_accepts_a_key_once_and_forgets_it_when_it_expires() -> None:
    redis = await reachable_redis()
    try:
        first, second = RedisReplays(redis), RedisReplays(redis)  # two nodes, one Redis
        key = uuid.uuid4().hex
        expires = datetime.now(UTC) + timedelta(seconds=90)
        assert await first.first_use(key, expires) is True
        assert await second.first_use(key, expires) is False
        assert await first.first_use(key, expires) is False
        ttl = await redis.ttl(PREFIX + key)
        assert 80 <= ttl <= 91
    finally:
        await redis.aclose()


async def test_without_redis_the_check_fails_closed() -> None:
    gone = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    try:
        with pytest.raises(StoreUnavailable) as unavailable:
            await RedisReplays(gone).first_use("k", datetime.now(UTC) + timedelta(seconds=60))
        assert unavailable.value.retry_after == 1
    finally:
        await gone.aclose()


async def test_the_store_accepts_a_key_once_and_purges_it_after_it_expires(
    runtime: Runtime,
) -> None:
    replays = StoreReplays(runtime.transaction)
    now = datetime.now(UTC)
    assert await replays.first_use("old", now - timedelta(seconds=1)) is True
    assert await replays.first_use("new", now + timedelta(seconds=60)) is True
    assert await replays.first_use("new", now + timedelta(seconds=60)) is False
    assert await replays.purge(now) == 1
    assert await replays.first_use("old", now + timedelta(seconds=60)) is True
    assert await replays.first_use("new", now + timedelta(seconds=60)) is False

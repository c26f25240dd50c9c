"""Failure counters shared through real Redis, blocks announced to every node over the bus, and
the in-process fallback when Redis is down."""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

from keyloft.cache.bus import RedisBus
from keyloft.cache.client_state import ClientStateCache
from keyloft.cache.node import NodeCopies
from keyloft.cache.ratelimit import RedisLimiter
from keyloft.cache.revocations import RevokedTokens
from keyloft.services.ports import Changes, Limit
from tests.support.redis_servers import RedisProcess
from tests.support.waiting import eventually


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


class Node:
    """One node's guard copy: a limiter fed by its own subscription to the bus."""

    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.limiter = RedisLimiter(self.redis)
        copies = NodeCopies(
            ClientStateCache(), RevokedTokens(), refresh=_nothing, limiter=self.limiter
        )
        self.bus = RedisBus(copies, self.redis, retry_seconds=0.05)
        bus = self.bus
        self.limiter.announce = lambda marks: bus.publish(Changes(blocked=marks))

    async def start(self) -> None:
        await self.bus.start()
        await eventually(lambda: self.limiter.answers_locally, within=5)

    async def stop(self) -> None:
        await self.bus.stop()
        await self.limiter.close()
        await self.redis.aclose()


async def _nothing() -> None:
    return None


async def _reads(redis: Redis) -> int:
    """GET and PTTL commands the server has answered so far."""
    stats = await redis.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("get", "pttl"))


async def test_a_block_reaches_every_node_and_is_then_answered_without_redis(
    private_redis: RedisProcess,
) -> None:
    first, second = Node(private_redis.url), Node(private_redis.url)
    await first.start()
    await second.start()
    later: Node | None = None
    blocked = [(f"client:{secrets.token_hex(8)}", Limit(failures=3, window=60))]
    free = [(f"client:{secrets.token_hex(8)}", Limit(failures=3, window=60))]
    try:
        for _ in range(2):
            await first.limiter.record_failure(blocked)
        assert await second.limiter.retry_after(blocked) is None
        await first.limiter.record_failure(blocked)  # the third failure reaches the limit
        await eventually(lambda: second.limiter.retry_after(blocked), within=2)

        # A node that subscribes after the block loads it from Redis before trusting itself.
        later = Node(private_redis.url)
        await later.start()
        wait = await later.limiter.retry_after(blocked)
        assert wait is not None
        assert 55 <= wait <= 60

        # From now on no attempt asks Redis: its command counters do not move.
        before = await _reads(second.redis)
        for _ in range(20):
            assert (await second.limiter.retry_after(blocked) or 0) > 0
            assert await second.limiter.retry_after(free) is None
        assert await _reads(second.redis) == before

        # While the bus is down, every attempt asks Redis again.
        await second.bus.stop()
        assert second.limiter.answers_locally is False
        assert await second.limiter.retry_after(free) is None
        assert await _reads(second.redis) > before
    finally:
        for node in (first, second, later):
            if node is not None:
                await node.stop()


async def test_without_a_subscription_every_attempt_asks_redis(redis: Redis) -> None:
    limiter, other = RedisLimiter(redis), RedisLimiter(redis)
    subjects = [(f"login:{secrets.token_hex(8)}", Limit(failures=1, window=30))]
    assert limiter.answers_locally is False
    await other.record_failure(subjects)  # announced nowhere: no bus
    wait = await limiter.retry_after(subjects)
    assert wait is not None
    assert 0 < wait <= 30

"""Cache invalidation across nodes over real Redis, and failing safe when Redis goes away."""

from __future__ import annotations

from redis.asyncio import Redis

from keyloft.cache.bus import RedisBus
from keyloft.cache.client_state import ClientStateCache
from keyloft.services.ports import Changes
from tests.support.client_states import state
from tests.support.redis_servers import RedisProcess
from tests.support.waiting import eventually


async def test_change_on_one_node_drops_the_entry_on_another(redis: Redis) -> None:
    cache_a, cache_b = ClientStateCache(), ClientStateCache()
    bus_a, bus_b = RedisBus(cache_a, redis), RedisBus(cache_b, redis)
    await bus_a.start()
    await bus_b.start()
    try:
        assert await bus_a.wait_subscribed(5)
        assert await bus_b.wait_subscribed(5)
        cache_b.put(state(41), read_at=cache_b.generation())
        assert cache_b.by_id(41) is not None
        await bus_a.publish(Changes(clients={41}))
        took = await eventually(lambda: cache_b.by_id(41) is None, within=1.0)
        assert took < 1.0
    finally:
        await bus_a.stop()
        await bus_b.stop()


async def test_cache_is_off_while_redis_is_down_and_back_after(
    private_redis: RedisProcess,
) -> None:
    client = Redis.from_url(private_redis.url, socket_timeout=1, socket_connect_timeout=1)
    cache = ClientStateCache()
    bus = RedisBus(cache, client, retry_seconds=0.05)
    await bus.start()
    try:
        assert await bus.wait_subscribed(5)
        cache.put(state(1), read_at=cache.generation())
        assert cache.by_id(1) is not None

        private_redis.stop()
        await eventually(lambda: not bus.healthy, within=5)
        assert cache.enabled is False
        assert cache.by_id(1) is None  # bypassed: answers must come from the store
        await bus.publish(Changes(clients={1}))  # publishing while down must not raise

        private_redis.start()
        await eventually(lambda: bus.healthy, within=10)
        assert cache.enabled is True
        assert cache.by_id(1) is None  # emptied on recovery: nothing stale survives
    finally:
        await bus.stop()
        await client.aclose()


class Counting:
    """A subscriber that only counts what it is told."""

    def __init__(self) -> None:
        self.applied: list[Changes] = []

    def apply(self, changes: Changes) -> None:
        self.applied.append(changes)

    def trusted(self, trusted: bool) -> None:
        return None


async def test_a_node_applies_its_own_change_once_and_others_once(redis: Redis) -> None:
    mine, theirs = Counting(), Counting()
    bus_a, bus_b = RedisBus(mine, redis), RedisBus(theirs, redis)
    await bus_a.start()
    await bus_b.start()
    try:
        assert await bus_a.wait_subscribed(5)
        assert await bus_b.wait_subscribed(5)
        await bus_a.publish(Changes(clients={41}))
        await eventually(lambda: len(theirs.applied) == 1, within=1.0)
        await bus_b.publish(Changes(clients={42}))  # a later message, seen after any echo
        await eventually(lambda: len(mine.applied) == 2, within=1.0)
        assert [c.clients for c in mine.applied] == [{41}, {42}]
        assert [c.clients for c in theirs.applied] == [{41}, {42}]
    finally:
        await bus_a.stop()
        await bus_b.stop()

"""The invalidation bus: after a client changes, every node drops what it cached about it.

Without Redis the bus is local to the process. With Redis each node publishes committed
changes on a channel and listens on it; while the subscription is down the node cannot know
what changed elsewhere, so it turns its caches off (answers come from the store) and turns
them back on, emptied, once it has resubscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from keyloft.cache.client_state import ClientStateCache
from keyloft.services.ports import Changes

log = logging.getLogger("keyloft.bus")
CHANNEL = "keyloft:invalidate:clients"


def encode(changes: Changes) -> str:
    return ",".join(
        [f"c{client_id}" for client_id in sorted(changes.clients)]
        + [f"o{org_id}" for org_id in sorted(changes.orgs)]
    )


def decode(data: object) -> Changes:
    text = data.decode() if isinstance(data, bytes) else str(data)
    changes = Changes()
    for part in text.split(","):
        kind, number = part[:1], part[1:]
        if number.isdigit():
            (changes.clients if kind == "c" else changes.orgs).add(int(number))
    return changes


def apply(cache: ClientStateCache, changes: Changes) -> None:
    for client_id in changes.clients:
        cache.invalidate(client_id)
    for org_id in changes.orgs:
        cache.invalidate_org(org_id)


class LocalBus:
    """Invalidation within one process."""

    def __init__(self, cache: ClientStateCache) -> None:
        self.cache = cache

    @property
    def healthy(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, changes: Changes) -> None:
        """Drop what ``changes`` made stale; call only after the change has committed."""
        apply(self.cache, changes)


class RedisBus(LocalBus):
    """Invalidation across nodes over Redis pub/sub, failing safe while Redis is away."""

    def __init__(
        self,
        cache: ClientStateCache,
        redis: Redis,
        *,
        retry_seconds: float = 0.5,
        on_health: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(cache)
        self._redis = redis
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._on_health = on_health
        cache.enabled = False

    @property
    def healthy(self) -> bool:
        return self._subscribed.is_set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="keyloft-invalidation-bus")

    async def wait_subscribed(self, within: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), within)
        return self.healthy

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish(self, changes: Changes) -> None:
        await super().publish(changes)
        if not changes:
            return
        try:
            await self._redis.publish(CHANNEL, encode(changes))
        except (RedisError, OSError) as exc:
            # Other nodes' subscriptions are down too, so they bypass their caches.
            log.warning("invalidation not published (%s)", type(exc).__name__)

    def _set_health(self, healthy: bool) -> None:
        if healthy == self.healthy:
            return
        self.cache.clear()
        self.cache.enabled = healthy
        if healthy:
            self._subscribed.set()
            log.info("invalidation bus subscribed; client cache on")
        else:
            self._subscribed.clear()
            log.warning("invalidation bus lost; client cache off until it is back")
        if self._on_health is not None:
            self._on_health(healthy)

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                self._set_health(True)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        apply(self.cache, decode(message.get("data")))
            except asyncio.CancelledError:
                self._set_health(False)
                raise
            except (RedisError, OSError) as exc:
                self._set_health(False)
                log.debug("invalidation bus: %s", type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(self._retry)


async def announce(redis_url: str, changes: Changes) -> bool:
    """Publish committed ``changes`` from outside a node (the CLI); False if Redis is away,
    in which case nodes pick the change up when their cache entries expire."""
    client = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.publish(CHANNEL, encode(changes))
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()
    return True

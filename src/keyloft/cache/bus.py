"""The invalidation bus: after a change commits, every node drops what it made stale.

Changes are clients, orgs' scope entities, revoked tokens and signing keys; the failed-attempt
guard's blocked subjects travel the same way (``ratelimit.RedisLimiter``). Without Redis the
bus is local to the process. With Redis each node publishes committed changes on a channel and
listens on it; while the subscription is down the node cannot know what changed elsewhere,
so its subscriber stops trusting its copies (answers come from the store) until the bus is
back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from keyloft.services.ports import Changes

log = logging.getLogger("keyloft.bus")
CHANNEL = "keyloft:invalidate:clients"


class Subscriber(Protocol):
    """What a node keeps copies of: told every change, and whether it may trust its copies."""

    def apply(self, changes: Changes) -> None: ...
    def trusted(self, trusted: bool) -> None: ...


def encode(changes: Changes) -> str:
    parts = [f"c{client_id}" for client_id in sorted(changes.clients)]
    parts += [f"o{org_id}" for org_id in sorted(changes.orgs)]
    parts += [f"r{jti}:{int(expires) + 1}" for jti, expires in changes.revoked.items()]
    parts += ["k"] if changes.keys else []
    # In milliseconds, rounded down: a mark may end a moment before the counter's window,
    # never after it (a wait is never announced longer than the window).
    parts += [f"b{digest}:{int(until * 1000)}" for digest, until in changes.blocked.items()]
    return ",".join(parts)


def decode(data: object) -> Changes:
    text = data.decode() if isinstance(data, bytes) else str(data)
    changes = Changes()
    for part in text.split(","):
        kind, rest = part[:1], part[1:]
        if kind == "c" and rest.isdigit():
            changes.clients.add(int(rest))
        elif kind == "o" and rest.isdigit():
            changes.orgs.add(int(rest))
        elif kind == "r" and ":" in rest:
            jti, _, expires = rest.rpartition(":")
            if jti and expires.isdigit():
                changes.revoked[jti] = float(expires)
        elif part == "k":
            changes.keys = True
        elif kind == "b" and ":" in rest:
            digest, _, until = rest.partition(":")
            if digest.isalnum() and until.isdigit():
                changes.blocked[digest] = int(until) / 1000
    return changes


def _signed_by(data: object, signature: str) -> bool:
    if isinstance(data, bytes):
        return data.startswith(signature.encode())
    return str(data).startswith(signature)


class LocalBus:
    """Invalidation within one process."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber

    @property
    def healthy(self) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, changes: Changes) -> None:
        """Drop what ``changes`` made stale; call only after the change has committed."""
        self.subscriber.apply(changes)


class RedisBus(LocalBus):
    """Invalidation across nodes over Redis pub/sub, failing safe while Redis is away."""

    def __init__(
        self,
        subscriber: Subscriber,
        redis: Redis,
        *,
        retry_seconds: float = 0.5,
        on_health: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(subscriber)
        self._redis = redis
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._on_health = on_health
        self._signature = f"n{secrets.token_hex(8)},"
        subscriber.trusted(False)

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
            # Signed with this node's id: it applied the changes already, and skips its echo.
            await self._redis.publish(CHANNEL, self._signature + encode(changes))
        except (RedisError, OSError) as exc:
            # Other nodes' subscriptions are down too, so they bypass their caches.
            log.warning("invalidation not published (%s)", type(exc).__name__)

    def _set_health(self, healthy: bool) -> None:
        if healthy == self.healthy:
            return
        self.subscriber.trusted(healthy)
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
                        data = message.get("data")
                        if not _signed_by(data, self._signature):
                            self.subscriber.apply(decode(data))
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

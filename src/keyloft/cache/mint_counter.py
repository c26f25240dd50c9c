"""Counting each client's tokens per minute for its mint limit (``services/mint_limits.py``).

With Redis the count is shared by every node: one pipelined ``INCR`` and ``EXPIRE`` per token
of a limited client, keyed by client and minute. Without Redis each node counts on its own,
so a deployment of N nodes lets a client mint up to N times its limit. If Redis cannot be
reached the node counts on its own until it can again (logged), rather than refuse tokens.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("keyloft.mint_limits")

PREFIX = "keyloft:mint:"
KEEP_SECONDS = 120
"""How long Redis keeps a minute's count: past its minute, with room for clock skew."""


class MemoryMintCounter:
    """Implements ``keyloft.services.ports.MintCounter`` in process (one node's counts)."""

    def __init__(self) -> None:
        self._latest = 0
        self._counts: dict[tuple[str, int], int] = {}

    async def count(self, client_key: str, window: int) -> int:
        if window > self._latest:
            # A new minute: the counts of the minutes before it are of no more use.
            self._latest = window
            self._counts = {key: n for key, n in self._counts.items() if key[1] >= window}
        count = self._counts.get((client_key, window), 0) + 1
        self._counts[(client_key, window)] = count
        return count


class RedisMintCounter:
    """Implements ``keyloft.services.ports.MintCounter`` in Redis, shared by every node."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._fallback = MemoryMintCounter()

    async def count(self, client_key: str, window: int) -> int:
        key = f"{PREFIX}{client_key}:{window}"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, KEEP_SECONDS)
                count, _ = await pipe.execute()
            return int(count)
        except (RedisError, OSError) as exc:
            log.warning("mint counter unavailable, counting on this node: %s", type(exc).__name__)
            return await self._fallback.count(client_key, window)

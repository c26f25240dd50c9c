"""Single use across nodes through Redis: ``SET key NX`` with the assertion's expiry."""

from __future__ import annotations

import math
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from keyloft.domain.errors import StoreUnavailable

PREFIX = "keyloft:used:"


class RedisReplays:
    """Implements ``keyloft.services.ports.ReplayGuard``. Fails closed: without Redis no
    assertion can be known fresh, so the request is answered 503, never accepted."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def first_use(self, key: str, expires_at: datetime) -> bool:
        try:
            stored = await self._redis.set(
                PREFIX + key, b"1", nx=True, exat=max(1, math.ceil(expires_at.timestamp()))
            )
        except (RedisError, OSError):
            raise StoreUnavailable(
                "The replay check is unavailable; try again shortly.", retry_after=1
            ) from None
        return bool(stored)

    async def purge(self, now: datetime) -> int:
        return 0  # Redis forgets each key at its expiry

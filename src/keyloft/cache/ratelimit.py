"""Counting failed authentications, per subject and window, to refuse guessing with 429.

A subject is a string such as ``client:<key>``, ``login:<username>`` or ``ip:<address>``.
Each subject has a fixed window; once it holds ``limit`` failures, further attempts are
refused until the window ends, without even checking the credentials. With Redis the counts
are shared by every node; if Redis cannot be reached the node counts in process, so a Redis
outage never opens the door wider than one node's limit.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from keyloft.services.ports import Limit

log = logging.getLogger("keyloft.ratelimit")
Subjects = Sequence[tuple[str, Limit]]


def _key(subject: str) -> str:
    digest = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"keyloft:fail:{digest}"


class MemoryLimiter:
    """Per-process counters: the whole story on a single node, the fallback with Redis."""

    def __init__(
        self, *, max_subjects: int = 100_000, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._max = max_subjects
        self._now = monotonic

    async def retry_after(self, subjects: Subjects) -> int | None:
        now = self._now()
        waits = []
        for subject, limit in subjects:
            count, resets = self._counts.get(_key(subject), (0, now))
            if resets > now and count >= limit.failures:
                waits.append(max(1, math.ceil(resets - now)))
        return max(waits) if waits else None

    async def record_failure(self, subjects: Subjects) -> None:
        now = self._now()
        for subject, limit in subjects:
            key = _key(subject)
            count, resets = self._counts.get(key, (0, 0.0))
            if resets <= now:
                count, resets = 0, now + limit.window
            self._counts[key] = (count + 1, resets)
            self._counts.move_to_end(key)
        while len(self._counts) > self._max:
            self._counts.popitem(last=False)


class RedisLimiter:
    """Counters in Redis, shared by every node; falls back to process counters on errors."""

    def __init__(self, redis: Redis, fallback: MemoryLimiter | None = None) -> None:
        self._redis = redis
        self._fallback = fallback or MemoryLimiter()

    async def retry_after(self, subjects: Subjects) -> int | None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for subject, _ in subjects:
                pipe.get(_key(subject))
                pipe.pttl(_key(subject))
            replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            _unavailable(exc)
            return await self._fallback.retry_after(subjects)
        waits = []
        for index, (_, limit) in enumerate(subjects):
            count, pttl = replies[2 * index], replies[2 * index + 1]
            if count is not None and int(count) >= limit.failures and pttl and pttl > 0:
                waits.append(max(1, math.ceil(pttl / 1000)))
        local = await self._fallback.retry_after(subjects)  # failures counted during an outage
        if local is not None:
            waits.append(local)
        return max(waits) if waits else None

    async def record_failure(self, subjects: Subjects) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for subject, limit in subjects:
                pipe.incr(_key(subject))
                pipe.expire(_key(subject), limit.window, nx=True)
            await pipe.execute()
        except (RedisError, OSError) as exc:
            _unavailable(exc)
            await self._fallback.record_failure(subjects)


def _unavailable(exc: BaseException) -> None:
    log.warning("rate limiter: Redis unavailable (%s); counting in process", type(exc).__name__)

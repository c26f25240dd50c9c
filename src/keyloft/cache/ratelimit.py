"""Counting failed authentications, per subject and window, to refuse guessing with 429.

A subject is a string such as ``client:<key>``, ``login:<username>`` or ``ip:<address>``.
Each subject has a fixed window; once it holds ``limit`` failures, further attempts are
refused until the window ends, without even checking the credentials. With Redis the counts
are shared by every node; if Redis cannot be reached the node counts in process, so a Redis
outage never opens the door wider than one node's limit.

With Redis, a good credential costs no Redis round trip while the node's invalidation bus is
subscribed: the node whose failure brings a subject to its limit marks the subject blocked in
Redis until its window ends and announces the mark on the bus, and every node answers "is it
blocked?" from its copy of the marks. A node loads the current marks from Redis each time its
subscription (re)starts, and asks Redis on every attempt until then and while the bus is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from keyloft.services.ports import Limit

log = logging.getLogger("keyloft.ratelimit")
Subjects = Sequence[tuple[str, Limit]]


FAILURES = "keyloft:fail:"
BLOCKED = "keyloft:blocked:"
MAX_MARKS = 100_000


@functools.lru_cache(maxsize=4096)
def _digest(subject: str) -> str:
    # Remembered: the same client keys and addresses come back on every attempt, and each
    # attempt asks about its subjects in the copy of the marks and in the process counts.
    return hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _key(subject: str) -> str:
    return FAILURES + _digest(subject)


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


Announce = Callable[[dict[str, float]], Awaitable[None]]


class RedisLimiter:
    """Counters in Redis, shared by every node; falls back to process counters on errors."""

    def __init__(
        self,
        redis: Redis,
        fallback: MemoryLimiter | None = None,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._fallback = fallback or MemoryLimiter()
        self._wall = wall
        # Blocked subjects (digest -> epoch seconds), trusted only while ``_local`` is set.
        self._marks: OrderedDict[str, float] = OrderedDict()
        self._local = False
        self._loading: asyncio.Task[None] | None = None
        self.announce: Announce | None = None

    @property
    def answers_locally(self) -> bool:
        return self._local

    def trusted(self, trusted: bool) -> None:
        """The bus's subscription is up (marks announced from now on reach this node) or
        down. Coming up, the marks made meanwhile are loaded before the copy is trusted."""
        self._local = False
        if self._loading is not None:
            self._loading.cancel()
            self._loading = None
        if trusted:
            self._loading = asyncio.get_running_loop().create_task(self._load())

    def block(self, marks: dict[str, float]) -> None:
        """Marks announced on the bus (by any node, this one included)."""
        for digest, until in marks.items():
            self._mark(digest, until)

    async def close(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loading

    async def _load(self) -> None:
        try:
            keys = [key async for key in self._redis.scan_iter(match=BLOCKED + "*", count=1000)]
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.pttl(key)
            remaining = await pipe.execute() if keys else []
        except (RedisError, OSError) as exc:
            _unavailable(exc)  # stays on asking Redis; the bus resubscribes and retries
            return
        now = self._wall()
        for key, pttl in zip(keys, remaining, strict=True):
            if pttl and pttl > 0:
                name = key.decode() if isinstance(key, bytes) else str(key)
                self._mark(name.removeprefix(BLOCKED), now + pttl / 1000)
        self._local = True

    def _mark(self, digest: str, until: float) -> None:
        if until > self._marks.get(digest, 0.0):
            self._marks[digest] = until
            self._marks.move_to_end(digest)
        if len(self._marks) > MAX_MARKS:
            now = self._wall()
            for old in [d for d, end in self._marks.items() if end <= now]:
                del self._marks[old]
            while len(self._marks) > MAX_MARKS:
                self._marks.popitem(last=False)

    def _marked(self, subjects: Subjects) -> int | None:
        now = self._wall()
        waits = []
        for subject, _ in subjects:
            digest = _digest(subject)
            until = self._marks.get(digest)
            if until is None:
                continue
            if until > now:
                waits.append(max(1, math.ceil(until - now)))
            else:
                del self._marks[digest]
        return max(waits) if waits else None

    async def retry_after(self, subjects: Subjects) -> int | None:
        if self._local:
            waits = [
                w for w in (self._marked(subjects), await self._fallback.retry_after(subjects)) if w
            ]
            return max(waits) if waits else None
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
                pipe.pttl(_key(subject))
            replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            _unavailable(exc)
            await self._fallback.record_failure(subjects)
            return
        now = self._wall()
        marks: dict[str, float] = {}
        for index, (subject, limit) in enumerate(subjects):
            count, pttl = replies[3 * index], replies[3 * index + 2]
            if int(count) >= limit.failures and pttl and pttl > 0:
                marks[_digest(subject)] = now + pttl / 1000
        if marks:
            await self._publish(marks, now)

    async def _publish(self, marks: dict[str, float], now: float) -> None:
        self.block(marks)
        try:
            pipe = self._redis.pipeline(transaction=False)
            for digest, until in marks.items():
                pipe.set(BLOCKED + digest, b"1", px=max(1, int((until - now) * 1000)))
            await pipe.execute()
        except (RedisError, OSError) as exc:
            _unavailable(exc)
        if self.announce is not None:
            await self.announce(marks)


def _unavailable(exc: BaseException) -> None:
    log.warning("rate limiter: Redis unavailable (%s); counting in process", type(exc).__name__)

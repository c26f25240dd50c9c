"""Failure counting in process: windows, limits, retry-after, bounded memory."""

from __future__ import annotations

from keyloft.cache.ratelimit import MemoryLimiter
from keyloft.services.ports import Limit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LIMIT = Limit(failures=3, window=60)


async def test_blocks_after_limit_until_window_ends() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(monotonic=clock)
    subjects = [("client:abc", LIMIT)]
    for _ in range(2):
        await limiter.record_failure(subjects)
    assert await limiter.retry_after(subjects) is None
    await limiter.record_failure(subjects)
    assert await limiter.retry_after(subjects) == 60
    clock.now += 45.5
    assert await limiter.retry_after(subjects) == 15
    clock.now += 15
    assert await limiter.retry_after(subjects) is None


async def test_subjects_are_counted_apart_and_longest_wait_wins() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(monotonic=clock)
    long_limit = Limit(failures=1, window=600)
    await limiter.record_failure([("ip:10.0.0.1", long_limit)])
    assert await limiter.retry_after([("ip:10.0.0.2", long_limit)]) is None
    both = [("client:x", LIMIT), ("ip:10.0.0.1", long_limit)]
    assert await limiter.retry_after(both) == 600


async def test_memory_is_bounded() -> None:
    limiter = MemoryLimiter(max_subjects=10, monotonic=FakeClock())
    for n in range(50):
        await limiter.record_failure([(f"login:user{n}", Limit(1, 60))])
    assert await limiter.retry_after([("login:user49", Limit(1, 60))]) == 60
    assert await limiter.retry_after([("login:user0", Limit(1, 60))]) is None

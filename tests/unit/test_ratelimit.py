"""Failure counting in process, and the guard that checks one attempt per subject at a time."""

from __future__ import annotations

import asyncio

import pytest

from keyloft.cache.ratelimit import MemoryLimiter
from keyloft.domain.errors import InvalidClientCredentials, TooManyAttempts
from keyloft.services.guard import AttemptGuard, address_subject
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
    limiter = MemoryLimiter(monotonic=FakeClock())
    long_limit = Limit(failures=1, window=600)
    await limiter.record_failure([("ip:10.0.0.1", long_limit)])
    assert await limiter.retry_after([("ip:10.0.0.2", long_limit)]) is None
    assert await limiter.retry_after([("client:x", LIMIT), ("ip:10.0.0.1", long_limit)]) == 600


async def test_memory_is_bounded() -> None:
    limiter = MemoryLimiter(max_subjects=10, monotonic=FakeClock())
    for n in range(50):
        await limiter.record_failure([(f"login:user{n}", Limit(1, 60))])
    assert await limiter.retry_after([("login:user49", Limit(1, 60))]) == 60
    assert await limiter.retry_after([("login:user0", Limit(1, 60))]) is None


async def test_a_concurrent_burst_of_guesses_gets_exactly_the_limit() -> None:
    guard = AttemptGuard(MemoryLimiter(), per_subject=LIMIT, per_address=Limit(1000, 60))
    checked = 0

    async def guess() -> type[Exception]:
        nonlocal checked
        try:
            async with guard.attempt(guard.subjects("client", "k", "10.0.0.1")):
                checked += 1
                await asyncio.sleep(0)  # let the others pile up on the same subject
                raise InvalidClientCredentials()
        except (InvalidClientCredentials, TooManyAttempts) as exc:
            return type(exc)

    outcomes = await asyncio.gather(*(guess() for _ in range(30)))
    assert checked == 3
    assert outcomes.count(InvalidClientCredentials) == 3
    assert outcomes.count(TooManyAttempts) == 27


async def test_successes_are_not_counted() -> None:
    guard = AttemptGuard(MemoryLimiter(), per_subject=LIMIT, per_address=LIMIT)
    for _ in range(10):
        async with guard.attempt(guard.subjects("login", "alice", "10.0.0.1")):
            pass
    with pytest.raises(InvalidClientCredentials):
        async with guard.attempt(guard.subjects("login", "alice", "10.0.0.1")):
            raise InvalidClientCredentials()


def test_ipv6_callers_are_counted_per_64() -> None:
    assert address_subject("2001:db8:1:2:aaaa::1") == address_subject("2001:db8:1:2:bbbb::9")
    assert address_subject("2001:db8:1:3::1") != address_subject("2001:db8:1:2::1")
    assert address_subject("::ffff:10.0.0.1") == address_subject("10.0.0.1") == "ip:10.0.0.1"

"""Refusing credential guessing: failed attempts per subject and per source address.

Attempts on one subject (a client key or a login) are checked one at a time on a node:
check the count, verify, record a failure. So a burst of concurrent guesses gets no more
checks than the limit allows (across nodes, at most one in flight per node beyond it), while
concurrent *good* logins pay only a short wait: the first one to verify fills the login and
client caches, and the others are answered from there.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from keyloft.domain.errors import InvalidClientCredentials, TooManyAttempts, Unauthenticated
from keyloft.services.ports import FailureLimiter, Limit

Subjects = Sequence[tuple[str, Limit]]
FAILURES = (Unauthenticated, InvalidClientCredentials)


@functools.lru_cache(maxsize=4096)  # callers come back from the same few addresses
def address_subject(address: str) -> str:
    """IPv6 callers are counted per /64: one host usually holds the whole block."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"ip:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"ip:{ip}"


class AttemptGuard:
    def __init__(self, limiter: FailureLimiter, per_subject: Limit, per_address: Limit) -> None:
        self._limiter = limiter
        self._per_subject = per_subject
        self._per_address = per_address
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def subjects(self, kind: str, name: str, address: str | None) -> Subjects:
        """``kind`` is ``client`` (a client key) or ``login`` (an admin username or Till code)."""
        found: list[tuple[str, Limit]] = [(f"{kind}:{name}", self._per_subject)]
        if address:
            found.append((address_subject(address), self._per_address))
        return found

    def _lock(self, subject: str) -> asyncio.Lock:
        lock = self._locks.get(subject)
        if lock is None:
            lock = self._locks[subject] = asyncio.Lock()
        return lock

    @asynccontextmanager
    async def attempt(self, subjects: Subjects) -> AsyncIterator[None]:
        """Guard one authentication: TooManyAttempts (checking nothing) while a subject is
        blocked; an authentication failure raised inside the block is counted."""
        async with self._lock(subjects[0][0]):
            wait = await self._limiter.retry_after(subjects)
            if wait is not None:
                raise TooManyAttempts(retry_after=wait)
            try:
                yield
            except FAILURES:
                await self._limiter.record_failure(subjects)
                raise

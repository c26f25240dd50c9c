"""Refusing credential guessing: failed attempts per subject and per source address."""

from __future__ import annotations

from collections.abc import Sequence

from keyloft.domain.errors import TooManyAttempts
from keyloft.services.ports import FailureLimiter, Limit

Subjects = Sequence[tuple[str, Limit]]


class AttemptGuard:
    def __init__(self, limiter: FailureLimiter, per_subject: Limit, per_address: Limit) -> None:
        self._limiter = limiter
        self._per_subject = per_subject
        self._per_address = per_address

    def subjects(self, kind: str, name: str, address: str | None) -> Subjects:
        """``kind`` is ``client`` (a client key) or ``login`` (an admin username or Till code)."""
        found: list[tuple[str, Limit]] = [(f"{kind}:{name}", self._per_subject)]
        if address:
            found.append((f"ip:{address}", self._per_address))
        return found

    async def check(self, subjects: Subjects) -> None:
        wait = await self._limiter.retry_after(subjects)
        if wait is not None:
            raise TooManyAttempts(retry_after=wait)

    async def failed(self, subjects: Subjects) -> None:
        await self._limiter.record_failure(subjects)

"""A node's copy of the revoked tokens (RFC 7009) that have not yet expired.

Loaded from the store at start-up, kept current by the invalidation bus. While the bus cannot
vouch for it (Redis away, or several workers without Redis) the copy is not trusted and every
question goes to the store, so a revoked token is never honoured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


class RevokedTokens:
    def __init__(self, *, wall: Callable[[], float] = time.time) -> None:
        self._expiry: dict[str, float] = {}
        self._now = wall  # expiries are epoch seconds, so the wall clock
        self.enabled = False
        self.watch: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self._expiry)

    def load(self, revoked: Iterable[tuple[str, float]]) -> None:
        """Merge ``(jti, expires_at_epoch)`` pairs read from the store into the copy.

        Merged, not replaced: the store read may predate a revocation the bus announced while
        it ran, and a revocation is never undone, so nothing the copy holds may be dropped
        before it expires."""
        now = self._now()
        merged = {**self._expiry, **dict(revoked)}
        self._expiry = {jti: expires for jti, expires in merged.items() if expires > now}

    def add(self, jti: str, expires: float) -> None:
        self._expiry[jti] = expires
        if len(self._expiry) % 1024 == 0:
            self.prune()

    def prune(self) -> None:
        now = self._now()
        self._expiry = {jti: exp for jti, exp in self._expiry.items() if exp > now}

    def known_revoked(self, jti: str) -> bool | None:
        """True/False from the copy; None when it cannot be trusted (ask the store)."""
        if self.enabled and self.watch is not None:
            self.watch()  # may find the copy stale and stop trusting it
        if not self.enabled:
            return None
        return jti in self._expiry

"""The short-lived cache of verified tokens that makes a repeated token cheap to verify.

A token is remembered by its exact text for at most a configured number of seconds and never
past its own ``exp``; the least recently used entries go beyond a maximum size. Only tokens
that passed every check are put here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from keyloft.resource.verified import VerifiedToken


class VerifiedTokenCache:
    """Verified tokens by their text, each until ``min(exp, remembered + seconds)`` as
    ``clock`` (epoch seconds) tells."""

    def __init__(self, *, size: int, seconds: float, clock: Callable[[], float]) -> None:
        self._entries: OrderedDict[str, tuple[float, VerifiedToken]] = OrderedDict()
        self._size = max(0, size)
        self._seconds = seconds
        self._clock = clock

    def get(self, token: str) -> VerifiedToken | None:
        """The verified token if it is remembered and still valid; an outdated entry is
        dropped."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if self._clock() < entry[0]:
            self._entries.move_to_end(token)
            return entry[1]
        del self._entries[token]
        return None

    def put(self, token: str, verified: VerifiedToken) -> None:
        if not self._size:
            return
        until = min(float(verified.expires_at), self._clock() + self._seconds)
        self._entries[token] = (until, verified)
        self._entries.move_to_end(token)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

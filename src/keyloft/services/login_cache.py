"""A short-lived, bounded cache of verified Basic logins, so argon2 is paid once per login.

Entries are keyed by an HMAC of the presented username and password under a server-derived
key (the clear password is never kept) and remember the password hash they were verified
against: when the stored hash changes, the entry no longer applies.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable


class LoginCache:
    def __init__(
        self,
        key: bytes,
        ttl_seconds: float,
        *,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = key
        self._ttl = ttl_seconds
        self._max = max_entries
        self._now = monotonic
        self._entries: OrderedDict[bytes, tuple[float, str]] = OrderedDict()

    def __repr__(self) -> str:
        return f"LoginCache(entries={len(self._entries)})"

    def _fingerprint(self, username: str, password: str) -> bytes:
        material = username.encode() + b"\x00" + password.encode()
        return hmac.new(self._key, material, hashlib.sha256).digest()

    def verified(self, username: str, password: str, password_hash: str) -> bool:
        """True when this exact login was verified against ``password_hash`` recently."""
        if self._ttl <= 0:
            return False
        fingerprint = self._fingerprint(username, password)
        entry = self._entries.get(fingerprint)
        if entry is None:
            return False
        expires, remembered_hash = entry
        if expires < self._now() or not hmac.compare_digest(remembered_hash, password_hash):
            self._entries.pop(fingerprint, None)
            return False
        return True

    def remember(self, username: str, password: str, password_hash: str) -> None:
        if self._ttl <= 0:
            return
        fingerprint = self._fingerprint(username, password)
        self._entries[fingerprint] = (self._now() + self._ttl, password_hash)
        self._entries.move_to_end(fingerprint)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

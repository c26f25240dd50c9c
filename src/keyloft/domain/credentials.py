"""Client keys and secrets: generation, keyed hashing at rest, constant-time verification.

Secrets are machine-generated with ≥ 238 bits of entropy, so a fast keyed hash is the right
tool (a slow password hash would only cost throughput). The stored form is versioned —
``kl1$hmac-sha256$<hex>`` — so the algorithm can change without ambiguity.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import string
from collections.abc import Sequence

ALPHABET = string.ascii_letters + string.digits
CLIENT_KEY_LENGTH = 25
CLIENT_SECRET_LENGTH = 40
_HASH_PREFIX = "kl1$hmac-sha256$"


def random_string(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_client_key() -> str:
    return random_string(CLIENT_KEY_LENGTH)


def new_client_secret() -> str:
    return random_string(CLIENT_SECRET_LENGTH)


class SecretHasher:
    """Keyed hashing of client secrets under a key derived from the server secret."""

    __slots__ = ("_key", "_previous")

    def __init__(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        """``previous``: keys of retired server secrets, still accepted during a rotation."""
        if len(key) < 32 or any(len(old) < 32 for old in previous):
            raise ValueError("secret hashing key must be at least 32 bytes")
        self._key = key
        self._previous = tuple(previous)

    def __repr__(self) -> str:
        return "SecretHasher(<hidden>)"

    def hash(self, secret: str) -> str:
        return _digest(self._key, secret)

    def verify(self, secret: str, stored: str) -> bool:
        """Constant-time comparison; unknown formats never verify."""
        return self.check(secret, stored) is not SecretCheck.NO_MATCH

    def check(self, secret: str, stored: str) -> SecretCheck:
        """Does ``secret`` match, and under the current server secret or a retired one?"""
        stored_bytes = stored.encode()
        if hmac.compare_digest(self.hash(secret).encode(), stored_bytes):
            return SecretCheck.MATCH
        for old in self._previous:
            if hmac.compare_digest(_digest(old, secret).encode(), stored_bytes):
                return SecretCheck.MATCH_PREVIOUS
        return SecretCheck.NO_MATCH


class SecretCheck(enum.Enum):
    MATCH = "match"
    MATCH_PREVIOUS = "match_previous"  # verified under a retired server secret: re-hash it
    NO_MATCH = "no_match"


def _digest(key: bytes, secret: str) -> str:
    return _HASH_PREFIX + hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()

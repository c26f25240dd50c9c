"""Client keys and secrets: generation, keyed hashing at rest, constant-time verification.

Secrets are machine-generated with ≥ 238 bits of entropy, so a fast keyed hash is the right
tool (a slow password hash would only cost throughput). The stored form is versioned —
``kl1$hmac-sha256$<hex>`` — so the algorithm can change without ambiguity.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

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

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("secret hashing key must be at least 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "SecretHasher(<hidden>)"

    def hash(self, secret: str) -> str:
        digest = hmac.new(self._key, secret.encode("utf-8"), hashlib.sha256).hexdigest()
        return _HASH_PREFIX + digest

    def verify(self, secret: str, stored: str) -> bool:
        """Constant-time comparison; unknown formats never verify."""
        candidate = self.hash(secret)
        if not stored.startswith(_HASH_PREFIX):
            hmac.compare_digest(candidate, candidate)
            return False
        return hmac.compare_digest(candidate.encode(), stored.encode())

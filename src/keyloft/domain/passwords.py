"""Passwords of admin users and Tills: argon2id over the md5 hex of the clear password.

The original service's clients send ``username:md5hex(password)`` in Basic auth, others send
the clear password; hashing the md5 hex lets both forms verify against one stored hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_MD5_HEX = re.compile(r"[0-9a-f]{32}")
# OWASP minimum for argon2id is 19 MiB, t=2, p=1; we sit above it.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def md5_hex(password: str) -> str:
    return hashlib.md5(password.encode("utf-8"), usedforsecurity=False).hexdigest()


def hash_password(password: str) -> str:
    return _HASHER.hash(md5_hex(password))


def _candidates(presented: str) -> list[str]:
    candidates = [md5_hex(presented)]
    lowered = presented.lower()
    if _MD5_HEX.fullmatch(lowered):
        candidates.insert(0, lowered)
    return candidates


def verify_password(stored_hash: str, presented: str) -> bool:
    """True when ``presented`` is the password or its md5 hex."""
    for candidate in _candidates(presented):
        try:
            if _HASHER.verify(stored_hash, candidate):
                return True
        except (VerificationError, InvalidHashError):
            continue
    return False


def new_password() -> str:
    """A generated password: 192 bits, URL-safe."""
    return secrets.token_urlsafe(24)


def dummy_verify(presented: str) -> None:
    """Spend the time of one verification so unknown users cost what known ones do."""
    verify_password(_DUMMY_HASH, presented)


_DUMMY_HASH = _HASHER.hash(md5_hex(secrets.token_hex(16)))

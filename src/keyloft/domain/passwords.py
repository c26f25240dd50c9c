"""Passwords of admin users and Tills: argon2id over the md5 hex of the clear password.

The original service's clients send ``username:md5hex(password)`` in Basic auth, others send
the clear password; hashing the md5 hex lets both forms verify against one stored hash.

Hashing parameters: every process hashes with ``PRODUCTION`` (argon2id, m=19 MiB, t=2, p=1,
the OWASP minimum) unless it calls ``use_parameters``. Only the test session does, with
``FOR_TESTS`` (the cheapest argon2 accepts), since it hashes and verifies thousands of
passwords; no setting or environment variable selects it, so a deployment cannot. argon2
writes its parameters into each hash and verification reads them from there, so a hash made
under either set verifies under the other: switching never invalidates a stored password.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

_MD5_HEX = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    """argon2id cost: passes over memory, memory in KiB, and lanes."""

    time_cost: int
    memory_kib: int
    parallelism: int = 1

    def hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            type=Type.ID,
        )


# OWASP minimum for argon2id is 19 MiB, t=2, p=1; we sit at it.
PRODUCTION = Argon2Parameters(time_cost=2, memory_kib=19 * 1024)
# The least argon2 accepts (8 KiB per lane): for the test session only, never a default.
FOR_TESTS = Argon2Parameters(time_cost=1, memory_kib=8)


def md5_hex(password: str) -> str:
    return hashlib.md5(password.encode("utf-8"), usedforsecurity=False).hexdigest()


class _Hashing:
    """The process's parameters, their hasher, and a hash for ``dummy_verify`` made with
    them (so verifying it costs what verifying a real one does)."""

    __slots__ = ("dummy", "hasher", "parameters")

    def __init__(self, parameters: Argon2Parameters) -> None:
        self.parameters = parameters
        self.hasher = parameters.hasher()
        self.dummy = self.hasher.hash(md5_hex(secrets.token_hex(16)))


_current = _Hashing(PRODUCTION)


def use_parameters(parameters: Argon2Parameters) -> None:
    """Hash new passwords with ``parameters`` from now on, in this whole process."""
    global _current
    _current = _Hashing(parameters)


def current_parameters() -> Argon2Parameters:
    return _current.parameters


def hash_password(password: str, *, parameters: Argon2Parameters | None = None) -> str:
    """The stored form of ``password``: with the process's parameters unless given others."""
    hasher = _current.hasher if parameters is None else parameters.hasher()
    return hasher.hash(md5_hex(password))


def _candidates(presented: str) -> list[str]:
    candidates = [md5_hex(presented)]
    lowered = presented.lower()
    if _MD5_HEX.fullmatch(lowered):
        candidates.insert(0, lowered)
    return candidates


def verify_password(stored_hash: str, presented: str) -> bool:
    """True when ``presented`` is the password or its md5 hex (under whichever parameters
    ``stored_hash`` was made with: they are part of it)."""
    hasher = _current.hasher
    for candidate in _candidates(presented):
        try:
            if hasher.verify(stored_hash, candidate):
                return True
        except (VerificationError, InvalidHashError):
            continue
    return False


def new_password() -> str:
    """A generated password: 192 bits, URL-safe."""
    return secrets.token_urlsafe(24)


def dummy_verify(presented: str) -> None:
    """Spend the time of one verification so unknown users cost what known ones do."""
    verify_password(_current.dummy, presented)

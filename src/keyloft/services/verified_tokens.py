"""A per-node cache of tokens whose signature and claims were verified, so a gateway asking
about the same token on every call pays the verification once.

Only what depends on the token alone is kept (type, claims, carried grants, signing kid),
keyed by the token's SHA-256; the kid's key, ``exp``, the client, its grants and revocation
are still checked on every hit. Bounded by ``max_entries`` (least recently used go first) and
by ``ceiling`` seconds per entry. Figures: docs/performance.md, "Verified-token cache".
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keyloft.domain.scopes import Grant
from keyloft.domain.signing import EXPIRY_LEEWAY

# The ``exp`` leeway of KeyRing.verify, applied again on every hit.


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What verifying a token established; ``claims`` is shared and must not be changed."""

    typ: str
    kid: str
    claims: dict[str, Any]
    grants: tuple[Grant, ...] | None
    issuer: str
    audience: str


class VerifiedTokens:
    def __init__(
        self,
        *,
        max_entries: int = 4096,
        ceiling: float = 300.0,
        leeway: float = EXPIRY_LEEWAY,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_entries
        self._ceiling = ceiling
        self._leeway = leeway
        self._wall = wall
        self._now = monotonic
        # digest -> (monotonic deadline, wall-clock end of validity, token)
        self._entries: OrderedDict[bytes, tuple[float, float, VerifiedToken]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"VerifiedTokens(entries={len(self._entries)})"

    @staticmethod
    def digest(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def get(self, digest: bytes, *, issuer: str, audience: str) -> VerifiedToken | None:
        """The verified token under ``digest`` if it has not expired (nor outlived the
        ceiling) and was verified for this issuer and audience; expired entries are dropped."""
        entry = self._entries.get(digest)
        if entry is None:
            self.misses += 1
            return None
        deadline, valid_until, verified = entry
        if self._now() >= deadline or self._wall() >= valid_until:
            del self._entries[digest]
            self.misses += 1
            return None
        if verified.issuer != issuer or verified.audience != audience:
            self.misses += 1
            return None
        self._entries.move_to_end(digest)
        self.hits += 1
        return verified

    def put(self, digest: bytes, verified: VerifiedToken) -> None:
        exp = verified.claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or self._max <= 0:
            return
        # Whole seconds, as verification compares them.
        valid_until = int(exp) + self._leeway
        self._entries[digest] = (self._now() + self._ceiling, valid_until, verified)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

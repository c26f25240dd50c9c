"""Sender-constrained tokens at the resource server (DPoP, RFC 9449 §7; mutual TLS, RFC 8705
§3): whether a verified token may be used the way it was presented.

A token whose claims confirm a key (``cnf.jkt``) is accepted only with the ``DPoP`` scheme and
exactly one proof: checked by ``keyloft.domain.dpop.check_proof`` against this request's method,
its public URL and this very token (``ath``), signed by the key the token names, and seen for
the first time (``ProofReplays``). A token without ``jkt`` is accepted only as a bearer token
(``Authorization: Bearer`` or ``X-CAP-API-OAUTH-TOKEN``). A token whose claims confirm a client
certificate (``cnf.x5t#S256``) is accepted only from a caller that presented that very
certificate over mutual TLS (its ``x5t#S256``, as the TLS terminator passed it on); a token
with both needs both. Any other confirmation method refuses the token whatever the scheme.

Refusals are ``TokenInvalid``; those about the proof itself are ``ProofInvalid`` (answered
``invalid_dpop_proof``). A single use is remembered by ``ProofReplayCache`` in this process
unless the application supplies a shared ``ProofReplays``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final, Protocol

from keyloft.domain.dpop import MAX_AGE, PROOF_ALGORITHMS, SKEW, Proof, ProofRefused, check_proof
from keyloft.domain.errors import StoreUnavailable
from keyloft.resource.verified import X5T_S256, TokenInvalid, VerifiedToken

__all__ = [
    "BEARER",
    "DPOP",
    "PROOF_ALGORITHMS",
    "REPLAY_WINDOW",
    "V3_HEADER",
    "Proof",
    "ProofInvalid",
    "ProofReplayCache",
    "ProofReplays",
    "ReplayUnavailable",
    "check_presentation",
    "replay_key",
]

log = logging.getLogger("keyloft.resource")

BEARER: Final = "Bearer"
DPOP: Final = "DPoP"
V3_HEADER: Final = "X-CAP-API-OAUTH-TOKEN"
"""The v3 token header, named as a scheme: it presents a bearer token."""
_SCHEMES: Final = {BEARER.lower(): False, V3_HEADER.lower(): False, DPOP.lower(): True}
CHECKED_CONFIRMATIONS: Final = frozenset({"jkt", X5T_S256})
REPLAY_WINDOW: Final = MAX_AGE + SKEW
"""Seconds a proof is remembered: no proof accepted now is still acceptable after that."""


class ProofInvalid(TokenInvalid):
    """The DPoP proof is missing, repeated, malformed, already used, or does not fit this
    request or token (``invalid_dpop_proof``)."""


class ReplayUnavailable(Exception):
    """The replay store cannot tell whether a proof is fresh; the request must not go on."""


class ProofReplays(Protocol):
    """Single use of DPoP proofs. Shared by every process that serves the same tokens, a proof
    replayed to another process is refused too; ``ProofReplayCache`` serves one process.

    The shape of ``keyloft.services.ports.ReplayGuard``, so Keyloft's own Redis guard fits."""

    async def first_use(self, key: str, expires_at: datetime) -> bool:
        """True the first time ``key`` is seen before ``expires_at``, False ever after; raise
        ``ReplayUnavailable`` when that cannot be known."""
        ...


def replay_key(jkt: str, jti: str) -> str:
    """The single-use key of a proof: a digest of its key and ``jti``, so keys have one length
    and meet neither client assertions' nor Keyloft's own proofs' in a shared store."""
    return hashlib.sha256(f"dpop-resource\x00{jkt}\x00{jti}".encode()).hexdigest()


class ProofReplayCache:
    """The proofs this process has accepted, each kept until its ``expires_at``, at most
    ``size`` at a time.

    Full of proofs that have not expired it refuses to answer (``ReplayUnavailable``) rather
    than forget one that could then be replayed: size it above the DPoP requests a process
    serves in ``REPLAY_WINDOW`` seconds."""

    def __init__(self, *, size: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        if size < 1:
            raise ValueError("size must be positive")
        self._size = size
        self._clock = clock
        self._until: OrderedDict[str, float] = OrderedDict()
        # Callers from several threads (a WSGI app) must not interleave the prune and insert.
        self._lock = threading.Lock()
        self._full = False

    def __len__(self) -> int:
        return len(self._until)

    async def first_use(self, key: str, expires_at: datetime) -> bool:
        with self._lock:
            now = self._clock()
            self._prune(now)
            until = self._until.get(key)
            if until is not None and until > now:
                return False
            if until is None and len(self._until) >= self._size:
                if not self._full:
                    log.warning("DPoP replay cache full (%d proofs): refusing proofs", self._size)
                self._full = True
                raise ReplayUnavailable("replay cache full")
            self._full = False
            self._until[key] = expires_at.timestamp()
            self._until.move_to_end(key)
            return True

    def _prune(self, now: float) -> None:
        # Entries are appended in the order they expire (one window after being seen).
        while self._until:
            key, until = next(iter(self._until.items()))
            if until > now:
                return
            del self._until[key]


def _uses_dpop(scheme: str) -> bool:
    kind = _SCHEMES.get(scheme.lower())
    if kind is None:
        raise TokenInvalid("scheme")
    return kind


async def check_presentation(
    verified: VerifiedToken,
    token: str,
    *,
    scheme: str,
    proofs: Sequence[str],
    method: str,
    url: str,
    now: float,
    replays: ProofReplays,
    certificate: str | None = None,
) -> Proof | None:
    """Whether ``token`` (verified as ``verified``) may be used as presented: with ``scheme``
    (``Bearer``, ``DPoP`` or ``X-CAP-API-OAUTH-TOKEN``, any case) and the request's ``DPoP``
    header values ``proofs``, for a ``method`` request to ``url`` (its public URL) at ``now``,
    by a caller whose mutual-TLS client certificate has the ``x5t#S256`` ``certificate`` (None
    when no certificate is known).

    The checked proof for a DPoP presentation, None for a bearer one; ``ProofInvalid`` for a
    proof that does not hold, ``TokenInvalid`` for a token that may not be used this way
    (``certificate`` when it is bound to another certificate or none is known;
    ``replay_unavailable`` when ``replays`` cannot answer)."""
    dpop = _uses_dpop(scheme)
    cnf = verified.cnf
    if cnf is not None and not cnf.keys() <= CHECKED_CONFIRMATIONS:
        raise TokenInvalid("cnf_unsupported")
    bound = verified.x5t_s256
    if bound is not None and (
        certificate is None
        or not hmac.compare_digest(bound.encode(), certificate.encode("utf-8", "replace"))
    ):
        raise TokenInvalid("certificate")
    jkt = verified.jkt
    if not dpop:
        if jkt is not None:
            raise TokenInvalid("dpop_required")
        return None
    if jkt is None:
        raise TokenInvalid("dpop_unbound")
    if not proofs:
        raise ProofInvalid("dpop_proof_missing")
    if len(proofs) > 1:
        raise ProofInvalid("dpop_proofs")
    try:
        proof = check_proof(proofs[0], method=method, url=url, now=now, access_token=token)
    except ProofRefused as refused:
        raise ProofInvalid(f"dpop_{refused.reason}") from None
    if not hmac.compare_digest(proof.jkt, jkt):
        raise TokenInvalid("dpop_key")
    expires_at = datetime.fromtimestamp(now + REPLAY_WINDOW, UTC)
    try:
        fresh = await replays.first_use(replay_key(proof.jkt, proof.jti), expires_at)
    except (ReplayUnavailable, StoreUnavailable):
        raise TokenInvalid("replay_unavailable") from None
    if not fresh:
        raise ProofInvalid("dpop_replayed")
    return proof

"""The key ring: the keys of one deployment, and signing and verifying access tokens with
them as of the moment its clock gives.

The active key (see ``lifecycle``) signs; any published key verifies, only under its own
algorithm, a token whose ``kid`` names it; the claims are checked by ``claims.check_claims``.
Every reading of time, for which key signs and is published as for a token's ``exp``, ``iat``
and ``nbf``, comes from the one clock the ring is given (the system clock by default).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature

from keyloft.domain.signing.algorithms import SCHEMES, PublicKey, scheme_of
from keyloft.domain.signing.claims import (
    AUDIENCE_UNCHECKED,
    CLOCK_SKEW,
    EXPIRY_LEEWAY,
    ClaimRejected,
    check_claims,
)
from keyloft.domain.signing.compact import (
    ACCESS_TOKEN_TYPES,
    COMPACT_TOKEN,
    b64url,
    header_prefix,
    payload_segment,
    unb64url,
)
from keyloft.domain.signing.keys import KID_PATTERN, SigningKey
from keyloft.domain.signing.lifecycle import (
    PUBLISH_LEEWAY,
    THIRTY_DAYS,
    key_phases,
    next_change,
)

Clock = Callable[[], datetime]
"""The current moment, timezone-aware."""


class TokenRejected(Exception):
    """Verification failed; the reason is for logs and metrics, never for the caller."""


class NoSigningKey(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class _Verifier:
    """A published key, ready to check signatures: its algorithm is the only one it accepts."""

    algorithm: str
    key: PublicKey
    check: Callable[[Any, bytes, bytes], None]


def _system_now() -> datetime:
    return datetime.now(UTC)


def _epoch_seconds(clock: Clock) -> Callable[[], float]:
    return lambda: clock().timestamp()


def _key_prefix(key: SigningKey, typ: str) -> bytes:
    return header_prefix(key.algorithm, key.kid, typ)


class KeyRing:
    """The keys of this deployment, and which of them sign and verify at a given moment.

    ``token_lifetime`` bounds how long any token lives, so a key that stopped signing is
    published (and verifies) that much longer, plus ``leeway``. ``clock`` gives the moment
    for all of it, token checks included.
    """

    def __init__(
        self,
        keys: Iterable[SigningKey],
        *,
        token_lifetime: float = THIRTY_DAYS,
        leeway: float = PUBLISH_LEEWAY,
        clock: Clock | None = None,
    ) -> None:
        self._keys = sorted(keys, key=lambda k: (k.starts, k.created_at))
        if not self._keys:
            raise NoSigningKey("no signing key: run `keyloft init`")
        self._keep = timedelta(seconds=token_lifetime + leeway)
        self._clock = clock if clock is not None else _system_now
        # Token checks want epoch seconds: the system clock is read as such directly (no
        # datetime built per token); an injected clock is read through its datetimes.
        self._seconds = time.time if clock is None else _epoch_seconds(clock)
        self._until: datetime | None = None
        self._refresh(self._clock())
        if not self._signer:
            raise NoSigningKey("no signing key is active now: see `keyloft keys list`")

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active.kid!r}, published={list(self._public)!r})"

    def _refresh(self, now: datetime) -> None:
        phases = key_phases(self._keys, now, self._keep)
        active = [k for k in self._keys if phases[k.kid].state == "active"]
        self._signer = active[0] if active else None
        published = [k for k in self._keys if phases[k.kid].published(now)]
        self._public = {
            key.kid: _Verifier(
                key.algorithm, key.private_key.public_key(), scheme_of(key.algorithm).verify
            )
            for key in published
        }
        self._published = published
        # The headers this ring writes, as they appear in its tokens: one of these needs no
        # parsing, its algorithm, kid and typ are known (and fit) by construction.
        self._own_headers = {
            _key_prefix(key, typ)[:-1].decode(): (typ, self._public[key.kid])
            for key in published
            for typ in ACCESS_TOKEN_TYPES
        }
        self._until = next_change(self._keys, phases, now)
        if self._signer is not None:
            # One tuple, replaced whole: key, signing function and headers always match.
            self._signing = (
                self._signer.private_key,
                scheme_of(self._signer.algorithm).sign,
                _key_prefix(self._signer, "JWT"),
                _key_prefix(self._signer, "at+jwt"),
            )

    def _current(self) -> None:
        if self._until is not None:
            now = self._clock()
            if now >= self._until:
                self._refresh(now)

    @property
    def active(self) -> SigningKey:
        self._current()
        if self._signer is None:
            raise NoSigningKey("no signing key is active now: see `keyloft keys list`")
        return self._signer

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """Every key of the ring, published or not."""
        return tuple(self._keys)

    def kids(self) -> list[str]:
        self._current()
        return list(self._public)

    def jwks(self) -> dict[str, Any]:
        self._current()
        return {"keys": [key.public_jwk() for key in self._published]}

    def algorithms(self) -> list[str]:
        """The algorithms of the published keys, the signing key's first."""
        self._current()
        found = [self._signer.algorithm] if self._signer is not None else []
        for key in self._published:
            if key.algorithm not in found:
                found.append(key.algorithm)
        return found

    def sign(self, claims: dict[str, Any], *, typ: str | None = None) -> str:
        """A JWT over ``claims``; ``typ="at+jwt"`` for RFC 9068 access tokens."""
        self._current()
        if self._signer is None:
            raise NoSigningKey("no signing key is active now: see `keyloft keys list`")
        private_key, sign_with, prefix, at_prefix = self._signing
        if typ == "at+jwt":
            prefix = at_prefix
        signing_input = prefix + payload_segment(claims)
        signature = sign_with(private_key, signing_input)
        return (signing_input + b"." + b64url(signature)).decode("ascii")

    def verify(
        self,
        token: str,
        *,
        issuer: str,
        audience: str | None = None,
        leeway: float = EXPIRY_LEEWAY,
        skew: float = CLOCK_SKEW,
    ) -> tuple[str, dict[str, Any]]:
        """(``typ``, claims) of a token this deployment signed; checks signature, algorithm
        (the one of the key ``kid`` names), ``kid``, ``typ``, then the claims: ``iss``,
        ``exp`` (``leeway`` past it), ``iat``/``nbf`` (at most ``skew`` ahead: another node's
        clock may run ahead of ours), and ``aud`` for ``at+jwt`` tokens. Raises TokenRejected:
        ``expired`` past ``exp``, ``invalid`` for any other claim."""
        if not isinstance(token, str) or not COMPACT_TOKEN.fullmatch(token):
            raise TokenRejected("malformed")
        head, body, signature = token.split(".")
        self._current()
        typ, verifier = self._own_headers.get(head) or self._read_header(head)
        try:
            verifier.check(
                verifier.key, unb64url(signature), token[: len(head) + len(body) + 1].encode()
            )
            claims = json.loads(unb64url(body).decode())
        except (InvalidSignature, ValueError) as exc:
            raise TokenRejected("invalid") from exc
        if not isinstance(claims, dict):
            raise TokenRejected("invalid")
        try:
            check_claims(
                claims,
                issuer=issuer,
                audience=audience if typ == "at+jwt" else AUDIENCE_UNCHECKED,
                now=self._seconds(),
                leeway=leeway,
                skew=skew,
            )
        except ClaimRejected as rejected:
            reason = "expired" if rejected.fault == "expired" else "invalid"
            raise TokenRejected(reason) from rejected
        return typ, claims

    def _read_header(self, head: str) -> tuple[str, _Verifier]:
        """(``typ``, the published key) of a header this ring did not write byte for byte."""
        try:
            header = json.loads(unb64url(head))
        except ValueError as exc:
            raise TokenRejected("malformed") from exc
        if not isinstance(header, dict):
            raise TokenRejected("malformed")
        alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ", "JWT")
        if type(alg) is not str or alg not in SCHEMES or "crit" in header:
            raise TokenRejected("header")
        if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
            raise TokenRejected("header")
        if type(typ) is not str or typ not in ACCESS_TOKEN_TYPES:
            raise TokenRejected("typ")
        verifier = self._public.get(kid)
        if verifier is None:
            raise TokenRejected("unknown_kid")
        if alg != verifier.algorithm:  # the key decides the algorithm, never the token
            raise TokenRejected("header")
        return typ, verifier

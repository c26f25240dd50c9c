"""Signing keys and the key ring that signs and verifies access tokens (RS256, 2048-bit)."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"
RSA_BITS = 2048
_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key starts signing at ``activates_at`` (published before, so verifiers have it) and
    stops when a newer key starts or it is retired; it stays published until every token it
    may have signed has expired."""

    kid: str
    algorithm: str
    private_key: rsa.RSAPrivateKey
    created_at: datetime
    activates_at: datetime | None = None
    retired_at: datetime | None = None

    @property
    def starts(self) -> datetime:
        return self.activates_at or self.created_at

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, algorithm={self.algorithm!r})"

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return jwk

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def generate_signing_key(now: datetime) -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    kid = now.strftime("%Y%m%d") + "-" + secrets.token_urlsafe(6)
    return SigningKey(kid=kid, algorithm=ALGORITHM, private_key=key, created_at=now)


def load_signing_key(
    kid: str,
    pem: bytes,
    created_at: datetime,
    activates_at: datetime | None = None,
    retired_at: datetime | None = None,
) -> SigningKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"signing key {kid} is not an RSA key")
    return SigningKey(kid, ALGORITHM, key, created_at, activates_at, retired_at)


class TokenRejected(Exception):
    """Verification failed; the reason is for logs and metrics, never for the caller."""


class NoSigningKey(ValueError):
    pass


ACCESS_TOKEN_TYPES = frozenset({"JWT", "at+jwt"})
THIRTY_DAYS = 30 * 24 * 3600
CLOCK_SKEW = 120.0  # nodes' clocks may disagree by ±90 s (SECURITY.md 33)


class KeyTimes(Protocol):
    """When a key signs: what the lifecycle needs of a key (loaded or only stored)."""

    @property
    def kid(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def starts(self) -> datetime: ...
    @property
    def retired_at(self) -> datetime | None: ...


KeyState = Literal["pending", "active", "superseded", "retired"]


@dataclass(frozen=True, slots=True)
class KeyPhase:
    """Where a key stands at one moment: whether it signs, and until when it is published
    (None: as long as it may still sign)."""

    state: KeyState
    published_until: datetime | None

    def published(self, now: datetime) -> bool:
        return self.published_until is None or now < self.published_until


def _retired(key: KeyTimes, now: datetime) -> bool:
    return key.retired_at is not None and key.retired_at <= now


def _signer(ordered: Sequence[KeyTimes], at: datetime) -> KeyTimes | None:
    """The newest started, unretired key: the one that signs at ``at``."""
    usable = [k for k in ordered if k.starts <= at and not _retired(k, at)]
    return usable[-1] if usable else None


def _stopped(key: KeyTimes, ordered: Sequence[KeyTimes], now: datetime) -> datetime | None:
    """When ``key`` last stopped signing (a newer key started, or it was retired); None if
    it never signed. A key resumes signing when every newer one is retired."""
    events = {k.starts for k in ordered if k.starts <= now}
    events |= {k.retired_at for k in ordered if k.retired_at and k.retired_at <= now}
    stopped, signing = None, False
    for moment in sorted(events):
        signs = _signer(ordered, moment) is key
        if signing and not signs:
            stopped = moment
        signing = signs
    return stopped


def key_phases(keys: Iterable[KeyTimes], now: datetime, keep: timedelta) -> dict[str, KeyPhase]:
    """Each key's phase at ``now``, by kid. The newest started, unretired key signs; a key
    stays published while it may sign (from when it is added), and ``keep`` (the longest
    token lifetime plus leeway) after it last stopped; a key that never signed, no longer."""
    ordered = sorted(keys, key=lambda k: (k.starts, k.created_at))
    signer = _signer(ordered, now)
    phases: dict[str, KeyPhase] = {}
    for key in ordered:
        state = _state(key, signer, now)
        until: datetime | None = None
        if state in ("superseded", "retired"):
            stopped = _stopped(key, ordered, now)
            until = stopped + keep if stopped else key.retired_at or key.starts
        phases[key.kid] = KeyPhase(state, until)
    return phases


def _state(key: KeyTimes, signer: KeyTimes | None, now: datetime) -> KeyState:
    if _retired(key, now):
        return "retired"
    if key.starts > now:
        return "pending"
    return "active" if key is signer else "superseded"


class KeyRing:
    """The keys of this deployment, and which of them sign and verify at a given moment.

    ``token_lifetime`` bounds how long any token lives, so a key that stopped signing is
    published (and verifies) that much longer, plus ``leeway``.
    """

    def __init__(
        self,
        keys: Iterable[SigningKey],
        *,
        token_lifetime: float = THIRTY_DAYS,
        leeway: float = 60.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._keys = sorted(keys, key=lambda k: (k.starts, k.created_at))
        if not self._keys:
            raise NoSigningKey("no signing key: run `keyloft init`")
        self._keep = timedelta(seconds=token_lifetime + leeway)
        self._clock = clock or (lambda: datetime.now(UTC))
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
        self._public = {key.kid: key.private_key.public_key() for key in published}
        self._published = published
        # The next moment the answer can change: a key starts, retires or is unpublished.
        moments = [k.starts for k in self._keys if k.starts > now]
        moments += [k.retired_at for k in self._keys if k.retired_at and k.retired_at > now]
        moments += [
            until
            for phase in phases.values()
            if (until := phase.published_until) is not None and until > now
        ]
        self._until = min(moments) if moments else None
        if self._signer is not None:
            self._headers = {"kid": self._signer.kid}
            self._at_headers = {"kid": self._signer.kid, "typ": "at+jwt"}

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

    def sign(self, claims: dict[str, Any], *, typ: str | None = None) -> str:
        """A JWT over ``claims``; ``typ="at+jwt"`` for RFC 9068 access tokens."""
        signer = self.active
        headers = self._at_headers if typ == "at+jwt" else self._headers
        return jwt.encode(claims, signer.private_key, algorithm=ALGORITHM, headers=headers)

    def verify(
        self,
        token: str,
        *,
        issuer: str,
        audience: str | None = None,
        leeway: float = 30.0,
        skew: float = CLOCK_SKEW,
    ) -> tuple[str, dict[str, Any]]:
        """(``typ``, claims) of a token this deployment signed; checks signature, algorithm,
        ``kid``, ``typ``, ``iss``, ``exp`` (``leeway`` past it), ``iat``/``nbf`` (at most
        ``skew`` ahead: another node's clock may run ahead of ours), and ``aud`` for
        ``at+jwt`` tokens. Raises TokenRejected."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected("malformed") from exc
        kid = header.get("kid")
        typ = header.get("typ", "JWT")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise TokenRejected("header")
        if typ not in ACCESS_TOKEN_TYPES:
            raise TokenRejected("typ")
        self._current()
        public = self._public.get(kid)
        if public is None:
            raise TokenRejected("unknown_kid")
        check_aud = typ == "at+jwt"
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                public,
                algorithms=[ALGORITHM],
                issuer=issuer,
                audience=audience if check_aud else None,
                leeway=leeway,
                options={
                    "require": ["exp", "iat", "iss", "sub", "jti"],
                    "verify_aud": check_aud,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected("invalid") from exc
        latest = time.time() + skew
        for claim in ("iat", "nbf"):
            value = claims.get(claim, 0)
            if not isinstance(value, int | float) or isinstance(value, bool) or value > latest:
                raise TokenRejected("invalid")
        return typ, claims

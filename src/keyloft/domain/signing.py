"""Signing keys and the key ring that signs and verifies access tokens.

A deployment signs with one of three algorithms (``KEYLOFT_SIGNING_ALGORITHM``): RS256
(RSA-2048, PKCS#1 v1.5), ES256 (ECDSA P-256) or EdDSA (Ed25519). Each key carries its own
algorithm, so a ring may hold keys of several while a deployment moves from one to another by
rotation; a token verifies only under the algorithm of the key its ``kid`` names.

Tokens are built and checked here with ``cryptography`` directly (RFC 7515 compact JWS): the
header is serialised once per key, and a token is split and decoded once on verification.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

Algorithm = Literal["RS256", "ES256", "EdDSA"]
ALGORITHMS: Final[tuple[Algorithm, ...]] = ("RS256", "ES256", "EdDSA")
DEFAULT_ALGORITHM: Final[Algorithm] = "RS256"
RSA_BITS = 2048
_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Three base64url segments (an empty signature is refused later, by its header's algorithm
# or by the signature check): one regular expression checks the whole token's alphabet.
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_ECDSA = ec.ECDSA(_SHA256)
_P256_BYTES = 32
# json.dumps(separators=(",", ":")) without building an encoder on every call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def _sign_rs256(key: Any, data: bytes) -> bytes:
    return bytes(key.sign(data, _PKCS1, _SHA256))


def _verify_rs256(key: Any, signature: bytes, data: bytes) -> None:
    key.verify(signature, data, _PKCS1, _SHA256)


def _sign_es256(key: Any, data: bytes) -> bytes:
    # JWS wants r || s, fixed-width (RFC 7518 3.4), not the DER that cryptography returns.
    r, s = decode_dss_signature(key.sign(data, _ECDSA))
    return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")


def _verify_es256(key: Any, signature: bytes, data: bytes) -> None:
    if len(signature) != 2 * _P256_BYTES:
        raise InvalidSignature
    r = int.from_bytes(signature[:_P256_BYTES], "big")
    s = int.from_bytes(signature[_P256_BYTES:], "big")
    key.verify(encode_dss_signature(r, s), data, _ECDSA)


def _sign_eddsa(key: Any, data: bytes) -> bytes:
    return bytes(key.sign(data))


def _verify_eddsa(key: Any, signature: bytes, data: bytes) -> None:
    key.verify(signature, data)


def _is_rs256(key: object) -> bool:
    return isinstance(key, rsa.RSAPrivateKey) and key.key_size >= RSA_BITS


def _is_es256(key: object) -> bool:
    return isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)


def _is_eddsa(key: object) -> bool:
    return isinstance(key, ed25519.Ed25519PrivateKey)


@dataclass(frozen=True, slots=True)
class _Scheme:
    """How one JWS algorithm makes keys, signs, verifies and publishes its keys."""

    generate: Callable[[], PrivateKey]
    fits: Callable[[object], bool]
    sign: Callable[[Any, bytes], bytes]
    verify: Callable[[Any, bytes, bytes], None]
    to_jwk: Callable[[Any], str]


_SCHEMES: Final[dict[str, _Scheme]] = {
    "RS256": _Scheme(
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS),
        _is_rs256,
        _sign_rs256,
        _verify_rs256,
        RSAAlgorithm.to_jwk,
    ),
    "ES256": _Scheme(
        lambda: ec.generate_private_key(ec.SECP256R1()),
        _is_es256,
        _sign_es256,
        _verify_es256,
        ECAlgorithm.to_jwk,
    ),
    "EdDSA": _Scheme(
        ed25519.Ed25519PrivateKey.generate,
        _is_eddsa,
        _sign_eddsa,
        _verify_eddsa,
        OKPAlgorithm.to_jwk,
    ),
}


def _scheme(algorithm: str) -> _Scheme:
    scheme = _SCHEMES.get(algorithm)
    if scheme is None:
        raise ValueError(f"unsupported signing algorithm {algorithm!r}: one of {ALGORITHMS}")
    return scheme


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(segment: str) -> bytes:
    """A base64url segment already matched by ``_COMPACT`` (so of the right alphabet)."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key starts signing at ``activates_at`` (published before, so verifiers have it) and
    stops when a newer key starts or it is retired; it stays published until every token it
    may have signed has expired."""

    kid: str
    algorithm: str
    private_key: PrivateKey
    created_at: datetime
    activates_at: datetime | None = None
    retired_at: datetime | None = None

    @property
    def starts(self) -> datetime:
        return self.activates_at or self.created_at

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, algorithm={self.algorithm!r})"

    def public_jwk(self) -> dict[str, Any]:
        scheme = _scheme(self.algorithm)
        jwk: dict[str, Any] = json.loads(scheme.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return jwk

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def generate_signing_key(now: datetime, algorithm: str = DEFAULT_ALGORITHM) -> SigningKey:
    key = _scheme(algorithm).generate()
    kid = now.strftime("%Y%m%d") + "-" + secrets.token_urlsafe(6)
    return SigningKey(kid=kid, algorithm=algorithm, private_key=key, created_at=now)


def load_signing_key(
    kid: str,
    pem: bytes,
    created_at: datetime,
    activates_at: datetime | None = None,
    retired_at: datetime | None = None,
    *,
    algorithm: str = DEFAULT_ALGORITHM,
) -> SigningKey:
    """A stored key; refused unless it is a key of its recorded ``algorithm``."""
    scheme = _scheme(algorithm)
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, PrivateKey) or not scheme.fits(key):
        raise ValueError(f"signing key {kid} is not a key for {algorithm}")
    return SigningKey(kid, algorithm, key, created_at, activates_at, retired_at)


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
        self._public = {
            key.kid: _Verifier(
                key.algorithm, key.private_key.public_key(), _scheme(key.algorithm).verify
            )
            for key in published
        }
        self._published = published
        # The headers this ring writes, as they appear in its tokens: one of these needs no
        # parsing, its algorithm, kid and typ are known (and fit) by construction.
        self._own_headers = {
            _header_prefix(key, typ)[:-1].decode(): (typ, self._public[key.kid])
            for key in published
            for typ in ACCESS_TOKEN_TYPES
        }
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
            # One tuple, replaced whole: key, signing function and headers always match.
            self._signing = (
                self._signer.private_key,
                _scheme(self._signer.algorithm).sign,
                _header_prefix(self._signer, "JWT"),
                _header_prefix(self._signer, "at+jwt"),
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
        signing_input = prefix + _b64(_COMPACT_JSON.encode(claims).encode())
        signature = sign_with(private_key, signing_input)
        return (signing_input + b"." + _b64(signature)).decode("ascii")

    def verify(
        self,
        token: str,
        *,
        issuer: str,
        audience: str | None = None,
        leeway: float = 30.0,
        skew: float = CLOCK_SKEW,
    ) -> tuple[str, dict[str, Any]]:
        """(``typ``, claims) of a token this deployment signed; checks signature, algorithm
        (the one of the key ``kid`` names), ``kid``, ``typ``, ``iss``, ``exp`` (``leeway``
        past it), ``iat``/``nbf`` (at most ``skew`` ahead: another node's clock may run ahead
        of ours), and ``aud`` for ``at+jwt`` tokens. Raises TokenRejected."""
        if not isinstance(token, str) or not _COMPACT.fullmatch(token):
            raise TokenRejected("malformed")
        head, body, signature = token.split(".")
        self._current()
        typ, verifier = self._own_headers.get(head) or self._read_header(head)
        try:
            verifier.check(
                verifier.key, _unb64(signature), token[: len(head) + len(body) + 1].encode()
            )
            claims = json.loads(_unb64(body).decode())
        except (InvalidSignature, ValueError) as exc:
            raise TokenRejected("invalid") from exc
        if not isinstance(claims, dict):
            raise TokenRejected("invalid")
        _check_claims(claims, issuer, audience if typ == "at+jwt" else _NO_AUDIENCE, leeway)
        latest = time.time() + skew
        for claim in ("iat", "nbf"):
            value = claims.get(claim, 0)
            if not isinstance(value, int | float) or isinstance(value, bool) or value > latest:
                raise TokenRejected("invalid")
        return typ, claims

    def _read_header(self, head: str) -> tuple[str, _Verifier]:
        """(``typ``, the published key) of a header this ring did not write byte for byte."""
        try:
            header = json.loads(_unb64(head))
        except ValueError as exc:
            raise TokenRejected("malformed") from exc
        if not isinstance(header, dict):
            raise TokenRejected("malformed")
        alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ", "JWT")
        if type(alg) is not str or alg not in _SCHEMES or "crit" in header:
            raise TokenRejected("header")
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise TokenRejected("header")
        if type(typ) is not str or typ not in ACCESS_TOKEN_TYPES:
            raise TokenRejected("typ")
        verifier = self._public.get(kid)
        if verifier is None:
            raise TokenRejected("unknown_kid")
        if alg != verifier.algorithm:  # the key decides the algorithm, never the token
            raise TokenRejected("header")
        return typ, verifier


@dataclass(frozen=True, slots=True)
class _Verifier:
    """A published key, ready to check signatures: its algorithm is the only one it accepts."""

    algorithm: str
    key: PublicKey
    check: Callable[[Any, bytes, bytes], None]


def _header_prefix(key: SigningKey, typ: str) -> bytes:
    """``base64url(header) + "."``, serialised once per key and ``typ`` (keys sorted)."""
    header = {"alg": key.algorithm, "kid": key.kid, "typ": typ}
    return _b64(json.dumps(header, separators=(",", ":"), sort_keys=True).encode()) + b"."


_REQUIRED_CLAIMS = ("exp", "iat", "iss", "sub", "jti")
_NO_AUDIENCE: Final = object()  # v3 tokens: ``aud`` is not checked at all


def _check_claims(claims: dict[str, Any], issuer: str, audience: object, leeway: float) -> None:
    """The registered claims, checked as RFC 7519 and RFC 9068 want them: every required
    claim present and not null, ``exp`` an integer not more than ``leeway`` in the past,
    ``iss`` equal to ``issuer``, ``aud`` (unless ``_NO_AUDIENCE``) naming ``audience`` (a
    token with an audience is refused when none is expected), ``sub`` and ``jti`` strings."""
    for claim in _REQUIRED_CLAIMS:
        if claims.get(claim) is None:
            raise TokenRejected("invalid")
    try:
        exp = int(claims["exp"])
    except (ValueError, TypeError, OverflowError) as exc:
        raise TokenRejected("invalid") from exc
    if exp <= time.time() - leeway:
        raise TokenRejected("expired")
    if claims["iss"] != issuer or not isinstance(claims["iss"], str):
        raise TokenRejected("invalid")
    if audience is not _NO_AUDIENCE and not _audience_ok(claims.get("aud"), audience):
        raise TokenRejected("invalid")
    if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str):
        raise TokenRejected("invalid")


def _audience_ok(aud: object, audience: object) -> bool:
    if audience is None:
        return not aud
    if not aud:
        return False
    named = [aud] if isinstance(aud, str) else aud
    if not isinstance(named, list) or not all(isinstance(item, str) for item in named):
        return False
    return audience in named

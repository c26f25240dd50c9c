"""Clients' own public keys (RFC 7517 JWK Sets) and the algorithms each may verify.

A client that authenticates with ``private_key_jwt`` (RFC 7523) registers public keys, inline
(``jwks``) or at a URL it serves (``jwksUri``). Registered keys are checked strictly — public
members only, RSA of at least 2048 bits, the EC curves P-256/P-384/P-521, Ed25519, at most
``MAX_KEYS`` — and each is named by its RFC 7638 thumbprint. Key sets fetched from elsewhere (a
client's URL, a federated issuer) are read leniently: keys Keyloft cannot use are skipped.

A key verifies only the algorithms of its own family (an RSA key never an ``ES256``
signature), and only those of ``ASSERTION_ALGORITHMS``: never ``none``, never HMAC.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from keyloft.domain.errors import ValidationFailed
from keyloft.domain.signing.compact import COMPACT_TOKEN, unb64url

# "Ed25519" is RFC 9864's fully specified name for EdDSA over Ed25519, which current clients
# (openid-client) send; it is the same algorithm as "EdDSA" with an Ed25519 key.
ASSERTION_ALGORITHMS: Final[tuple[str, ...]] = (
    "RS256",
    "PS256",
    "ES256",
    "ES384",
    "EdDSA",
    "Ed25519",
)
MAX_KEYS = 10
MAX_KID = 128
MIN_RSA_BITS = 2048
# Members that hold private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
PRIVATE_MEMBERS: Final[tuple[str, ...]] = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
# What is kept of a registered key: its public members and the standard metadata.
_KEPT = ("kty", "kid", "use", "key_ops", "alg", "crv", "n", "e", "x", "y", "x5c", "x5t", "x5t#S256")
_CURVE_ALGORITHMS: Final[dict[str, tuple[str, ...]]] = {
    "P-256": ("ES256",),
    "P-384": ("ES384",),
    "P-521": (),  # a valid key, but ES512 is not an accepted assertion algorithm
    "Ed25519": ("EdDSA", "Ed25519"),
}
_THUMBPRINT_MEMBERS: Final[dict[str, tuple[str, ...]]] = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class ClientKey:
    """One usable public key: its JWK as registered, and what it may verify."""

    jwk: Mapping[str, Any]
    thumbprint: str
    algorithms: tuple[str, ...]
    key: PublicKey

    @property
    def kid(self) -> str | None:
        kid = self.jwk.get("kid")
        return kid if isinstance(kid, str) else None

    @property
    def kty(self) -> str:
        return str(self.jwk["kty"])

    @property
    def crv(self) -> str | None:
        crv = self.jwk.get("crv")
        return crv if isinstance(crv, str) else None

    @property
    def alg(self) -> str | None:
        alg = self.jwk.get("alg")
        return alg if isinstance(alg, str) else None

    def verifies(self, algorithm: str) -> bool:
        return algorithm in self.algorithms


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class BadSignature(ValueError):
    """A compact JWS that is malformed, or whose signature its key did not make."""


@dataclass(frozen=True, slots=True)
class CompactJws:
    """A compact JWS split once into its three base64url segments (RFC 7515 §7.1)."""

    token: str
    header: str
    payload: str
    signature: str

    @property
    def signing_input(self) -> bytes:
        return self.token[: len(self.header) + len(self.payload) + 1].encode("ascii")


def split_jws(token: str) -> CompactJws:
    """``token`` split into its segments, their alphabet checked by one regular expression;
    ``BadSignature`` when it is not three base64url segments."""
    if not COMPACT_TOKEN.fullmatch(token):
        raise BadSignature("malformed")
    header, payload, signature = token.split(".")
    return CompactJws(token, header, payload, signature)


_SHA256, _SHA384 = hashes.SHA256(), hashes.SHA384()
_PKCS1 = padding.PKCS1v15()
# RFC 7518 §3.5: PS256 uses MGF1 with SHA-256 and a salt as long as the hash.
_PSS = padding.PSS(mgf=padding.MGF1(_SHA256), salt_length=_SHA256.digest_size)


def _ecdsa(hash_algorithm: hashes.HashAlgorithm, size: int) -> Callable[[Any, bytes, bytes], None]:
    scheme = ec.ECDSA(hash_algorithm)

    def verify(key: Any, signature: bytes, data: bytes) -> None:
        # JWS carries r || s at a fixed width (RFC 7518 §3.4), not the DER cryptography reads.
        if len(signature) != 2 * size:
            raise InvalidSignature
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        key.verify(encode_dss_signature(r, s), data, scheme)

    return verify


def _eddsa(key: Any, signature: bytes, data: bytes) -> None:
    key.verify(signature, data)


# One JWS verifier for every signature a client makes (assertions, DPoP proofs), over
# ``cryptography`` directly: each token is split and decoded once. It also knows RFC 9864's
# name "Ed25519" for EdDSA over Ed25519. Which key may verify which algorithm is ClientKey's.
_VERIFIERS: Final[dict[str, Callable[[Any, bytes, bytes], None]]] = {
    "RS256": lambda key, signature, data: key.verify(signature, data, _PKCS1, _SHA256),
    "PS256": lambda key, signature, data: key.verify(signature, data, _PSS, _SHA256),
    "ES256": _ecdsa(_SHA256, 32),
    "ES384": _ecdsa(_SHA384, 48),
    "EdDSA": _eddsa,
    "Ed25519": _eddsa,
}
assert set(_VERIFIERS) == set(ASSERTION_ALGORITHMS)


def verify_jws(jws: CompactJws, key: ClientKey, algorithm: str) -> bytes:
    """The payload of ``jws`` when ``key`` signed it with ``algorithm`` (one the caller checked
    the key may verify); ``BadSignature`` otherwise. Only the signature is checked."""
    verifier = _VERIFIERS.get(algorithm)
    if verifier is None or not key.verifies(algorithm):
        raise BadSignature("algorithm")
    try:
        verifier(key.key, unb64url(jws.signature), jws.signing_input)
        return unb64url(jws.payload)
    except (InvalidSignature, ValueError):
        raise BadSignature("signature") from None


def verified_payload(token: str, key: ClientKey, algorithm: str) -> bytes:
    """The payload of a compact JWS that ``key`` signed with ``algorithm``, the algorithm its
    header names, with no critical extension (RFC 7515 §4.1.11: Keyloft understands none);
    ``BadSignature`` otherwise. Only the signature is checked."""
    jws = split_jws(token)
    try:
        header = json.loads(unb64url(jws.header))
    except ValueError:
        raise BadSignature("malformed") from None
    if not isinstance(header, dict) or header.get("alg") != algorithm or "crit" in header:
        raise BadSignature("header")
    return verify_jws(jws, key, algorithm)


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url without padding."""
    members = _THUMBPRINT_MEMBERS[str(jwk["kty"])]
    canonical = json.dumps(
        {name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


class UnusableKey(ValueError):
    """A key that cannot be registered: ``member`` names the offending JWK member."""

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message)
        self.member = member


def public_key(jwk: Any) -> ClientKey:
    """One public JWK, checked as a registered key is; ``UnusableKey`` otherwise."""
    return _check_key(jwk)


def _check_key(jwk: Any) -> ClientKey:
    if not isinstance(jwk, Mapping):
        raise UnusableKey("must be a JSON object (a JWK)")
    for member in PRIVATE_MEMBERS:
        if member in jwk:
            raise UnusableKey(
                f'holds the private or symmetric member "{member}": register public keys only',
                member,
            )
    kty = jwk.get("kty")
    if kty not in _THUMBPRINT_MEMBERS:
        raise UnusableKey("kty must be RSA, EC or OKP", "kty")
    for member in _THUMBPRINT_MEMBERS[kty]:
        if not isinstance(jwk.get(member), str) or not jwk[member]:
            raise UnusableKey(f'needs the member "{member}" (a base64url string)', member)
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 1 <= len(kid) <= MAX_KID):
        raise UnusableKey(f"kid must be a string of 1 to {MAX_KID} characters", "kid")
    if jwk.get("use", "sig") != "sig":
        raise UnusableKey('use must be "sig"', "use")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise UnusableKey('key_ops must include "verify"', "key_ops")
    if kty == "RSA":
        algorithms: tuple[str, ...] = ("RS256", "PS256")
    else:
        crv = jwk.get("crv")
        if kty == "EC" and crv not in ("P-256", "P-384", "P-521"):
            raise UnusableKey("crv of an EC key must be P-256, P-384 or P-521", "crv")
        if kty == "OKP" and crv != "Ed25519":
            raise UnusableKey("crv of an OKP key must be Ed25519", "crv")
        algorithms = _CURVE_ALGORITHMS[str(crv)]
    alg = jwk.get("alg")
    if alg is not None:
        if alg not in algorithms:
            raise UnusableKey(
                f"alg {alg!r} is not an accepted algorithm of this key; "
                f"accepted: {', '.join(algorithms) or 'none'}",
                "alg",
            )
        algorithms = ("EdDSA", "Ed25519") if alg in ("EdDSA", "Ed25519") else (alg,)
    kept = {name: jwk[name] for name in _KEPT if name in jwk}
    try:
        key = PyJWK.from_dict(dict(kept), algorithm=_parse_algorithm(kty, jwk)).key
    except (PyJWTError, ValueError, TypeError, KeyError):
        raise UnusableKey("is not a valid public key") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise UnusableKey(f"RSA keys must have at least {MIN_RSA_BITS} bits", "n")
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise UnusableKey("is not a public key")
    return ClientKey(kept, thumbprint(kept), algorithms, key)


def _parse_algorithm(kty: str, jwk: Mapping[str, Any]) -> str:
    """An algorithm PyJWT parses this key type with (the key's own uses are ours to say)."""
    if kty == "RSA":
        return "RS256"
    if kty == "OKP":
        return "EdDSA"
    return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[str(jwk["crv"])]


def check_jwks(value: Any, field: str = "jwks") -> tuple[ClientKey, ...]:
    """A client's registered key set, checked strictly; ``ValidationFailed`` names the member."""
    if not isinstance(value, Mapping) or not isinstance(value.get("keys"), list):
        raise ValidationFailed(f'{field} must be a JWK Set: {{"keys": [...]}}.', field=field)
    keys: Sequence[Any] = value["keys"]
    if len(keys) > MAX_KEYS:
        raise ValidationFailed(
            f"{field}.keys allows at most {MAX_KEYS} keys.", field=f"{field}.keys"
        )
    checked: list[ClientKey] = []
    for index, jwk in enumerate(keys):
        where = f"{field}.keys[{index}]"
        try:
            key = _check_key(jwk)
        except UnusableKey as exc:
            named = f"{where}.{exc.member}" if exc.member else where
            raise ValidationFailed(f"{where} {exc}.", field=named) from None
        for earlier in checked:
            if key.thumbprint == earlier.thumbprint:
                raise ValidationFailed(f"{where} is registered twice.", field=where)
            if key.kid is not None and key.kid == earlier.kid:
                raise ValidationFailed(
                    f"{where}.kid {key.kid!r} is used twice.", field=f"{where}.kid"
                )
        checked.append(key)
    return tuple(checked)


def read_key_set(document: Any, *, limit: int = 100) -> tuple[ClientKey, ...]:
    """The usable keys of a fetched JWK Set (at most ``limit``); the others are skipped."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        return ()
    usable: list[ClientKey] = []
    for jwk in document["keys"][:limit]:
        try:
            usable.append(_check_key(jwk))
        except UnusableKey:
            continue
    return tuple(usable)


def jwks_document(keys: Sequence[ClientKey]) -> dict[str, Any]:
    """The JWK Set of ``keys``, as stored and shown."""
    return {"keys": [dict(key.jwk) for key in keys]}


def candidates(keys: Sequence[ClientKey], kid: str | None, algorithm: str) -> list[ClientKey]:
    """The keys that may have made a signature with this ``kid`` and ``algorithm``: a ``kid``
    names its key; without one, every key of the algorithm's family is tried."""
    if algorithm not in ASSERTION_ALGORITHMS:
        return []
    if kid is not None:
        return [key for key in keys if key.kid == kid and key.verifies(algorithm)]
    return [key for key in keys if key.verifies(algorithm)]

"""Which keys of an issuer's JWKS a resource server accepts, each with the one algorithm it
verifies.

Only signing keys (``use: sig``) with a well-formed ``kid`` and an ``alg`` that fits the key
are kept — RSA of at least 2048 bits for ``RS256``, EC P-256 for ``ES256``, OKP Ed25519 for
``EdDSA`` — and that algorithm is the only one a token signed by the key may name. Everything
else in the set is ignored; a ``kid`` published twice is ambiguous and dropped altogether.
The kid shape and the RSA size are Keyloft's own (``keyloft.domain.signing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from keyloft.domain.signing.algorithms import RSA_BITS, PublicKey
from keyloft.domain.signing.keys import KID_PATTERN

# The algorithms a published key may be for, with the key type (and curve) each needs.
KEY_TYPES = {"RS256": ("RSA", None), "ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
MIN_RSA_BITS: Final = RSA_BITS
MAX_KEYS = 64
KID: Final = KID_PATTERN


@dataclass(frozen=True, slots=True)
class PublishedKey:
    """A key of the set and the one algorithm it verifies."""

    algorithm: str
    key: PublicKey


def parse_jwks(document: Any) -> dict[str, PublishedKey]:
    """The acceptable keys of a JWKS document by ``kid``; ValueError when it is no key set.

    A ``kid`` published twice is ambiguous and dropped altogether."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JSON Web Key Set")
    keys: dict[str, PublishedKey] = {}
    repeated: set[str] = set()
    for jwk in document["keys"][:MAX_KEYS]:
        if not isinstance(jwk, Mapping):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not KID.fullmatch(kid):
            continue
        key = _public_key(jwk)
        if key is None:
            continue
        if kid in keys:
            repeated.add(kid)
        keys[kid] = key
    for kid in repeated:
        del keys[kid]
    return keys


def _public_key(jwk: Mapping[str, Any]) -> PublishedKey | None:
    algorithm = jwk.get("alg")
    if not isinstance(algorithm, str) or algorithm not in KEY_TYPES or jwk.get("use") != "sig":
        return None
    kty, crv = KEY_TYPES[algorithm]
    if jwk.get("kty") != kty or jwk.get("crv") != crv:
        return None
    if "d" in jwk:  # a private key has no business in a published set
        return None
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    try:
        key = _from_jwk(algorithm, dict(jwk))
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        return None
    return PublishedKey(algorithm, key) if key is not None else None


def _from_jwk(algorithm: str, jwk: dict[str, Any]) -> PublicKey | None:
    """The public key of ``jwk`` if it is the kind ``algorithm`` needs, else None."""
    key: object
    if algorithm == "RS256":
        key = RSAAlgorithm.from_jwk(jwk)
        ok = isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS
    elif algorithm == "ES256":
        key = ECAlgorithm.from_jwk(jwk)
        ok = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    else:
        key = OKPAlgorithm.from_jwk(jwk)
        ok = isinstance(key, ed25519.Ed25519PublicKey)
    return key if ok and isinstance(key, PublicKey) else None

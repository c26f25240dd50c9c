"""The JWS algorithms Keyloft signs with, one scheme each: RS256 (RSA-2048, PKCS#1 v1.5),
ES256 (ECDSA P-256) and EdDSA (Ed25519).

A scheme says how its keys are made and recognised, how it signs and verifies (with the
signature laid out as RFC 7518 wants it) and how its public key is published as a JWK. Nothing
here knows about tokens, claims or when a key signs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
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

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_ECDSA = ec.ECDSA(_SHA256)
_P256_BYTES = 32


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
class Scheme:
    """How one JWS algorithm makes keys, signs, verifies and publishes its keys.

    ``verify`` raises ``cryptography.exceptions.InvalidSignature`` for a wrong signature."""

    generate: Callable[[], PrivateKey]
    fits: Callable[[object], bool]
    sign: Callable[[Any, bytes], bytes]
    verify: Callable[[Any, bytes, bytes], None]
    to_jwk: Callable[[Any], str]


SCHEMES: Final[dict[str, Scheme]] = {
    "RS256": Scheme(
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS),
        _is_rs256,
        _sign_rs256,
        _verify_rs256,
        RSAAlgorithm.to_jwk,
    ),
    "ES256": Scheme(
        lambda: ec.generate_private_key(ec.SECP256R1()),
        _is_es256,
        _sign_es256,
        _verify_es256,
        ECAlgorithm.to_jwk,
    ),
    "EdDSA": Scheme(
        ed25519.Ed25519PrivateKey.generate,
        _is_eddsa,
        _sign_eddsa,
        _verify_eddsa,
        OKPAlgorithm.to_jwk,
    ),
}


def scheme_of(algorithm: str) -> Scheme:
    """The scheme of ``algorithm``; ValueError for any algorithm Keyloft does not sign with."""
    scheme = SCHEMES.get(algorithm)
    if scheme is None:
        raise ValueError(f"unsupported signing algorithm {algorithm!r}: one of {ALGORITHMS}")
    return scheme

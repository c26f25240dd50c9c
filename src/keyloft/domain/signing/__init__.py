"""Signing keys and the key ring that signs and verifies access tokens.

A deployment signs with one of three algorithms (``KEYLOFT_SIGNING_ALGORITHM``): RS256
(RSA-2048, PKCS#1 v1.5), ES256 (ECDSA P-256) or EdDSA (Ed25519). Each key carries its own
algorithm, so a ring may hold keys of several while a deployment moves from one to another by
rotation; a token verifies only under the algorithm of the key its ``kid`` names. Tokens are
built and checked with ``cryptography`` directly (RFC 7515 compact JWS).

By concern: ``algorithms`` (sign and verify per JWS algorithm), ``keys`` (a key, made, loaded,
published), ``lifecycle`` (which key signs when, how long each is published), ``claims`` (when
a token's claims are acceptable, shared with ``keyloft.resource``), ``compact`` (the token's
serialisation) and ``ring`` (the KeyRing that puts them together).
"""

from keyloft.domain.signing.algorithms import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    RSA_BITS,
    Algorithm,
    PrivateKey,
    PublicKey,
)
from keyloft.domain.signing.claims import (
    CLOCK_SKEW,
    EXPIRY_LEEWAY,
    ClaimRejected,
    check_claims,
)
from keyloft.domain.signing.compact import ACCESS_TOKEN_TYPES
from keyloft.domain.signing.keys import SigningKey, generate_signing_key, load_signing_key
from keyloft.domain.signing.lifecycle import (
    PUBLISH_LEEWAY,
    THIRTY_DAYS,
    KeyPhase,
    KeyState,
    KeyTimes,
    key_phases,
)
from keyloft.domain.signing.ring import KeyRing, NoSigningKey, TokenRejected

__all__ = [
    "ACCESS_TOKEN_TYPES",
    "ALGORITHMS",
    "CLOCK_SKEW",
    "DEFAULT_ALGORITHM",
    "EXPIRY_LEEWAY",
    "PUBLISH_LEEWAY",
    "RSA_BITS",
    "THIRTY_DAYS",
    "Algorithm",
    "ClaimRejected",
    "KeyPhase",
    "KeyRing",
    "KeyState",
    "KeyTimes",
    "NoSigningKey",
    "PrivateKey",
    "PublicKey",
    "SigningKey",
    "TokenRejected",
    "check_claims",
    "generate_signing_key",
    "key_phases",
    "load_signing_key",
]

"""The one verifier of clients' signatures (``client_keys.verified_payload``): tokens PyJWT
signs with each accepted algorithm verify; a changed byte, another key, a header naming
another algorithm, a critical extension or a malformed token never do."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from keyloft.domain.client_keys import (
    ASSERTION_ALGORITHMS,
    BadSignature,
    ClientKey,
    b64url,
    public_key,
    verified_payload,
)

RSA = rsa.generate_private_key(65537, 2048)
P256 = ec.generate_private_key(ec.SECP256R1())
P384 = ec.generate_private_key(ec.SECP384R1())
ED = ed25519.Ed25519PrivateKey.generate()


def _key(private: Any) -> ClientKey:
    if isinstance(private, rsa.RSAPrivateKey):
        text = RSAAlgorithm.to_jwk(private.public_key())
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        text = ECAlgorithm.to_jwk(private.public_key())
    else:
        text = OKPAlgorithm.to_jwk(private.public_key())
    return public_key(json.loads(text))


SIGNERS = {
    "RS256": RSA,
    "PS256": RSA,
    "ES256": P256,
    "ES384": P384,
    "EdDSA": ED,
    "Ed25519": ED,
}
CLAIMS = {"sub": "client-1", "n": 7}


def _sign(algorithm: str, private: Any, headers: dict[str, Any] | None = None) -> str:
    if algorithm != "Ed25519":
        return jwt.encode(CLAIMS, private, algorithm=algorithm, headers=headers)
    # PyJWT knows RFC 9864's "Ed25519" only as "EdDSA": the same signature, named otherwise.
    header = b64url(json.dumps({"alg": "Ed25519"} | (headers or {})).encode())
    body = b64url(json.dumps(CLAIMS).encode())
    return f"{header}.{body}.{b64url(private.sign(f'{header}.{body}'.encode()))}"


def test_every_accepted_algorithm_is_covered() -> None:
    assert set(SIGNERS) == set(ASSERTION_ALGORITHMS)


@pytest.mark.parametrize("algorithm", sorted(SIGNERS))
def test_a_signature_of_each_algorithm_verifies(algorithm: str) -> None:
    token = _sign(algorithm, SIGNERS[algorithm])
    assert json.loads(verified_payload(token, _key(SIGNERS[algorithm]), algorithm)) == CLAIMS


@pytest.mark.parametrize("algorithm", sorted(SIGNERS))
def test_a_changed_signature_or_payload_does_not(algorithm: str) -> None:
    token = _sign(algorithm, SIGNERS[algorithm])
    head, body, signature = token.split(".")
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    other_body = jwt.encode({"sub": "client-2"}, "k" * 32, algorithm="HS256").split(".")[1]
    for changed in (f"{head}.{body}.{flipped}", f"{head}.{other_body}.{signature}"):
        with pytest.raises(BadSignature):
            verified_payload(changed, _key(SIGNERS[algorithm]), algorithm)


def test_another_key_of_the_family_does_not_verify() -> None:
    token = _sign("ES256", P256)
    other = _key(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(BadSignature):
        verified_payload(token, other, "ES256")


def test_the_header_must_name_the_algorithm_checked_and_no_critical_extension() -> None:
    token = _sign("RS256", RSA)
    with pytest.raises(BadSignature):
        verified_payload(token, _key(RSA), "PS256")  # PS256 is RSA's, but not this header's
    critical = _sign("ES256", P256, {"crit": ["b64"], "b64": True})
    with pytest.raises(BadSignature):
        verified_payload(critical, _key(P256), "ES256")


def test_a_key_never_verifies_another_family_s_algorithm() -> None:
    token = _sign("ES256", P256)
    with pytest.raises(BadSignature):
        verified_payload(token, _key(RSA), "ES256")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "a+b.c.d",  # not the base64url alphabet
        "e30.e30.",  # no signature
        "!!!.e30.AAAA",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(BadSignature):
        verified_payload(token, _key(P256), "ES256")


def test_an_es256_signature_of_the_wrong_width_is_refused() -> None:
    token = _sign("ES256", P256)
    head, body, _signature = token.split(".")
    der_width = jwt.utils.base64url_encode(b"\x01" * 70).decode()
    with pytest.raises(BadSignature):
        verified_payload(f"{head}.{body}.{der_width}", _key(P256), "ES256")

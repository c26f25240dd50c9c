"""Clients' registered public keys: strict checks naming the offending member, RFC 7638
thumbprints, the algorithms each key may verify, and lenient reading of fetched key sets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from keyloft.domain.client_keys import (
    MAX_KEYS,
    candidates,
    check_jwks,
    read_key_set,
    thumbprint,
)
from keyloft.domain.errors import ValidationFailed

# RFC 7638 §3.1: the example key and its SHA-256 thumbprint.
RFC7638_KEY = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
    "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
    "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhA"
    "I4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def _jwk(private: Any, algorithm: Any, **members: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(private.public_key()))
    return jwk | members


def ec_jwk(curve: ec.EllipticCurve = ec.SECP256R1(), **members: Any) -> dict[str, Any]:
    return _jwk(ec.generate_private_key(curve), ECAlgorithm, **members)


def rsa_jwk(bits: int = 2048, **members: Any) -> dict[str, Any]:
    return _jwk(rsa.generate_private_key(65537, bits), RSAAlgorithm, **members)


def test_the_rfc_7638_example_has_the_rfc_s_thumbprint() -> None:
    assert thumbprint(RFC7638_KEY) == RFC7638_THUMBPRINT
    (key,) = check_jwks({"keys": [RFC7638_KEY]})
    assert key.thumbprint == RFC7638_THUMBPRINT
    assert key.algorithms == ("RS256",)  # its alg narrows RS256/PS256 to RS256


def test_each_family_verifies_only_its_own_algorithms() -> None:
    keys = check_jwks(
        {
            "keys": [
                rsa_jwk(kid="r"),
                ec_jwk(kid="p256"),
                ec_jwk(ec.SECP384R1(), kid="p384"),
                ec_jwk(ec.SECP521R1(), kid="p521"),
                _jwk(ed25519.Ed25519PrivateKey.generate(), OKPAlgorithm, kid="ed"),
            ]
        }
    )
    assert {key.kid: key.algorithms for key in keys} == {
        "r": ("RS256", "PS256"),
        "p256": ("ES256",),
        "p384": ("ES384",),
        "p521": (),
        "ed": ("EdDSA", "Ed25519"),  # RFC 9864's name for the same algorithm
    }
    assert [key.kid for key in candidates(keys, None, "ES256")] == ["p256"]
    assert candidates(keys, "r", "ES256") == []  # an RSA key never checks an ES256 signature
    assert candidates(keys, None, "HS256") == []
    assert candidates(keys, None, "none") == []


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "k"])
def test_a_private_member_is_refused_by_name(member: str) -> None:
    jwk = rsa_jwk() | {member: "AQAB"}
    with pytest.raises(ValidationFailed) as refused:
        check_jwks({"keys": [rsa_jwk(), jwk]})
    assert refused.value.field == f"jwks.keys[1].{member}"
    assert "AQAB" not in refused.value.message


@pytest.mark.parametrize(
    ("jwk", "field"),
    [
        pytest.param(rsa_jwk(1024), "jwks.keys[0].n", id="rsa-1024"),
        pytest.param({"kty": "oct", "k": "c2VjcmV0"}, "jwks.keys[0].k", id="symmetric"),
        pytest.param({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}, None, id="curve"),
        pytest.param(ec_jwk(use="enc"), "jwks.keys[0].use", id="use-enc"),
        pytest.param(ec_jwk(alg="RS256"), "jwks.keys[0].alg", id="alg-of-another-family"),
        pytest.param(ec_jwk(alg="HS256"), "jwks.keys[0].alg", id="alg-hmac"),
        pytest.param(ec_jwk(key_ops=["sign"]), "jwks.keys[0].key_ops", id="key-ops"),
        pytest.param({"kty": "RSA", "e": "AQAB"}, "jwks.keys[0].n", id="no-modulus"),
        pytest.param(
            {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}, "jwks.keys[0]", id="off-curve"
        ),
        pytest.param("not-a-key", "jwks.keys[0]", id="not-an-object"),
    ],
)
def test_unusable_keys_are_refused_naming_the_member(jwk: Any, field: str | None) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_jwks({"keys": [jwk]})
    assert refused.value.field == (field or "jwks.keys[0].crv")


def test_a_set_holds_at_most_ten_distinct_keys() -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_jwks({"keys": [ec_jwk() for _ in range(MAX_KEYS + 1)]})
    assert refused.value.field == "jwks.keys"
    twice = ec_jwk()
    with pytest.raises(ValidationFailed) as refused:
        check_jwks({"keys": [twice, dict(twice)]})
    assert refused.value.field == "jwks.keys[1]"
    with pytest.raises(ValidationFailed) as refused:
        check_jwks({"keys": [ec_jwk(kid="a"), ec_jwk(kid="a")]})
    assert refused.value.field == "jwks.keys[1].kid"
    for shape in ({"keys": "x"}, [ec_jwk()], None):
        with pytest.raises(ValidationFailed) as refused:
            check_jwks(shape)
        assert refused.value.field == "jwks"


def test_only_public_members_and_metadata_are_kept() -> None:
    (key,) = check_jwks({"keys": [ec_jwk(kid="k", note="hello", x5u="https://x.test")]})
    assert set(key.jwk) == {"kty", "crv", "x", "y", "kid"}


def test_a_fetched_set_keeps_the_usable_keys_and_skips_the_rest() -> None:
    good = ec_jwk(kid="good")
    fetched = {"keys": [{"kty": "oct", "k": "c2VjcmV0"}, rsa_jwk(1024), good, "junk"]}
    assert [key.kid for key in read_key_set(fetched)] == ["good"]
    assert read_key_set({"keys": "nope"}) == ()
    assert read_key_set(["not", "a", "set"]) == ()

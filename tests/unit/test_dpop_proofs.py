"""DPoP proofs (RFC 9449 §4.3) checked against their request: each check refuses with its
own reason, a good proof answers its key's thumbprint, and URLs compare as RFC 3986 says."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from keyloft.domain.client_keys import thumbprint
from keyloft.domain.dpop import (
    MAX_AGE,
    SKEW,
    ProofRefused,
    check_proof,
    normalized_url,
    token_hash,
)

URL = "https://keyloft.example/oauth2/token"
NOW = time.time()
KEY = ec.generate_private_key(ec.SECP256R1())
JWK = json.loads(ECAlgorithm.to_jwk(KEY.public_key()))


def proof(
    *,
    claims: dict[str, Any] | None = None,
    header: dict[str, Any] | None = None,
    key: Any = KEY,
    algorithm: str = "ES256",
) -> str:
    body = {"jti": str(uuid.uuid4()), "htm": "POST", "htu": URL, "iat": int(NOW)}
    head = {"typ": "dpop+jwt", "jwk": JWK} | (header or {})
    return jwt.encode(body | (claims or {}), key, algorithm=algorithm, headers=head)


def check(value: str, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {"method": "POST", "url": URL, "now": NOW} | overrides
    return check_proof(value, **arguments)


def test_a_good_proof_names_its_key_by_thumbprint() -> None:
    checked = check(proof(claims={"nonce": "n-1"}))
    assert checked.jkt == thumbprint(JWK)
    assert checked.nonce == "n-1"
    assert checked.iat == int(NOW)


def test_with_an_access_token_ath_must_be_its_hash() -> None:
    token = "eyJ.access.token"
    assert check(proof(claims={"ath": token_hash(token)}), access_token=token).jkt
    for ath in (None, token_hash("another"), token):
        with pytest.raises(ProofRefused) as refused:
            check(proof(claims={"ath": ath}), access_token=token)
        assert refused.value.reason == "ath"


def _private_jwk() -> dict[str, Any]:
    return json.loads(ECAlgorithm.to_jwk(KEY))  # holds "d"


RSA = rsa.generate_private_key(65537, 2048)
RSA_JWK = json.loads(RSAAlgorithm.to_jwk(RSA.public_key()))


@pytest.mark.parametrize(
    ("made", "reason"),
    [
        (lambda: "not-a-jwt", "malformed"),
        (lambda: proof() + "." + "x", "malformed"),
        (lambda: proof(header={"typ": "JWT"}), "typ"),
        (lambda: proof(header={"typ": None}), "typ"),
        (lambda: proof(header={"jwk": _private_jwk()}), "jwk"),
        (lambda: proof(header={"jwk": None}), "jwk"),
        (
            lambda: jwt.encode({"htm": "POST"}, "k" * 32, "HS256", {"typ": "dpop+jwt", "jwk": JWK}),
            "algorithm",
        ),
        (lambda: proof(header={"jwk": RSA_JWK}), "algorithm"),  # ES256 with an RSA key
        (lambda: proof(key=ec.generate_private_key(ec.SECP256R1())), "signature"),
        (lambda: proof(claims={"jti": None}), "jti"),
        (lambda: proof(claims={"jti": ""}), "jti"),
        (lambda: proof(claims={"htm": "GET"}), "htm"),
        (lambda: proof(claims={"htm": "post"}), "htm"),
        (lambda: proof(claims={"htu": "https://keyloft.example/oauth2/introspect"}), "htu"),
        (lambda: proof(claims={"htu": "https://evil.example/oauth2/token"}), "htu"),
        (lambda: proof(claims={"htu": None}), "htu"),
        (lambda: proof(claims={"iat": None}), "iat"),
        (lambda: proof(claims={"iat": "1"}), "iat"),
        (lambda: proof(claims={"iat": NOW + SKEW + 5}), "iat"),
        (lambda: proof(claims={"iat": NOW - MAX_AGE - 5}), "iat"),
        (lambda: proof(claims={"nonce": 7}), "nonce"),
    ],
)
def test_each_check_refuses_with_its_reason(made: Any, reason: str) -> None:
    with pytest.raises(ProofRefused) as refused:
        check(made())
    assert refused.value.reason == reason


def test_rsa_proofs_with_either_rsa_algorithm() -> None:
    for algorithm in ("RS256", "PS256"):
        made = proof(header={"jwk": RSA_JWK}, key=RSA, algorithm=algorithm)
        assert check(made).jkt == thumbprint(RSA_JWK)


@pytest.mark.parametrize(
    ("sent", "same"),
    [
        ("https://keyloft.example/oauth2/token?x=1#f", True),
        ("HTTPS://KEYLOFT.example:443/oauth2/token", True),
        ("https://keyloft.example:8443/oauth2/token", False),
        ("http://keyloft.example/oauth2/token", False),
        ("https://keyloft.example/oauth2/token/", False),
        ("https://keyloft.example:bad/oauth2/token", False),
    ],
)
def test_urls_compare_as_rfc_3986_normalises_them(sent: str, same: bool) -> None:
    assert (normalized_url(sent) == normalized_url(URL)) is same
    assert normalized_url("http://[::1]:80") == "http://[::1]/"


def test_a_header_seen_before_still_has_every_signature_checked() -> None:
    first = proof()
    assert check(first).jkt == thumbprint(JWK)
    head, body, signature = proof().split(".")
    assert head == first.split(".")[0]  # the same header: its key is held
    forged_body = proof(key=ec.generate_private_key(ec.SECP256R1())).split(".")
    for forged in (
        f"{head}.{forged_body[1]}.{forged_body[2]}",  # signed by another key
        f"{head}.{body}.{signature[:-4]}AAAA",
    ):
        with pytest.raises(ProofRefused) as refused:
            check(forged)
        assert refused.value.reason == "signature"


def test_a_refused_header_stays_refused_when_seen_again() -> None:
    bad = proof(header={"typ": "JWT"})
    for _ in range(2):
        with pytest.raises(ProofRefused) as refused:
            check(bad)
        assert refused.value.reason == "typ"


def test_a_critical_header_extension_is_refused() -> None:
    with pytest.raises(ProofRefused) as refused:
        check(proof(header={"crit": ["exp"], "exp": 1}))
    assert refused.value.reason == "malformed"

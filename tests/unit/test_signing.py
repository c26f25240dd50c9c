"""The key ring: RS256 signing and the verifier's refusals (RFC 8725, RFC 9068)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from keyloft.domain.signing import KeyRing, SigningKey, TokenRejected, generate_signing_key
from tests.support.tokens import ISSUER, b64url
from tests.support.tokens import claims as token_claims


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return generate_signing_key(datetime.now(UTC) - timedelta(days=1))


@pytest.fixture
def ring(signing_key: SigningKey) -> KeyRing:
    return KeyRing([signing_key])


def _forge(header: dict[str, Any], claims: dict[str, Any], signer: bytes | None) -> str:
    """A token built by hand, signed with HMAC-SHA256 under ``signer`` (or unsigned)."""
    head = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    if signer is None:
        return head + "."
    return head + "." + b64url(hmac.new(signer, head.encode(), hashlib.sha256).digest())


def _reason(ring: KeyRing, token: str, **kwargs: Any) -> str:
    with pytest.raises(TokenRejected) as caught:
        ring.verify(token, issuer=ISSUER, **kwargs)
    return str(caught.value)


def test_round_trip(ring: KeyRing, signing_key: SigningKey) -> None:
    token = ring.sign(token_claims(client_id=5))
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == ("RS256", signing_key.kid)
    assert ring.verify(token, issuer=ISSUER)[1]["client_id"] == 5


def test_newest_key_signs_and_older_keys_still_verify(
    signing_key: SigningKey, other_key: SigningKey
) -> None:
    old_ring = KeyRing([other_key])
    both = KeyRing([signing_key, other_key])
    assert both.active.kid == signing_key.kid
    old_token = old_ring.sign(token_claims())
    assert both.verify(old_token, issuer=ISSUER)[1]["sub"] == "client-key"


def test_empty_ring_refused() -> None:
    with pytest.raises(ValueError, match="keyloft init"):
        KeyRing([])


def test_unknown_kid(ring: KeyRing, other_key: SigningKey) -> None:
    token = KeyRing([other_key]).sign(token_claims())
    assert _reason(ring, token) == "unknown_kid"


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("../../x", id="traversal"),
        pytest.param("' OR 1=1 --", id="sql"),
        pytest.param("a" * 65, id="too-long"),
        pytest.param("", id="empty"),
        pytest.param("kid\n", id="newline"),
        pytest.param(7, id="not-a-string"),
        pytest.param(None, id="null"),
    ],
)
def test_injection_shaped_kid(ring: KeyRing, signing_key: SigningKey, kid: object) -> None:
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    head = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(token_claims()).encode())
    signature = signing_key.private_key.sign(head.encode(), padding.PKCS1v15(), hashes.SHA256())
    token = head + "." + b64url(signature)
    # PyJWT itself refuses a kid that is not a string; either way the key is never looked up.
    assert _reason(ring, token) in {"header", "malformed"}


def test_alg_none(ring: KeyRing, signing_key: SigningKey) -> None:
    token = _forge({"alg": "none", "typ": "JWT", "kid": signing_key.kid}, token_claims(), None)
    assert _reason(ring, token) == "header"


def test_hs256_signed_with_the_public_key(ring: KeyRing, signing_key: SigningKey) -> None:
    public_pem = signing_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = _forge(
        {"alg": "HS256", "typ": "JWT", "kid": signing_key.kid}, token_claims(), public_pem
    )
    assert _reason(ring, token) == "header"


def test_rs256_header_with_forged_signature(ring: KeyRing, signing_key: SigningKey) -> None:
    token = _forge({"alg": "RS256", "typ": "JWT", "kid": signing_key.kid}, token_claims(), b"k")
    assert _reason(ring, token) == "invalid"


def test_tampered_payload(ring: KeyRing) -> None:
    head, _, signature = ring.sign(token_claims(sub="a")).split(".")
    forged = ".".join([head, b64url(json.dumps(token_claims(sub="b")).encode()), signature])
    assert _reason(ring, forged) == "invalid"


def test_wrong_issuer(ring: KeyRing) -> None:
    assert _reason(ring, ring.sign(token_claims(iss="http://other"))) == "invalid"


def test_expiry_leeway(ring: KeyRing) -> None:
    now = int(time.time())
    within = ring.sign(token_claims(iat=now - 400, exp=now - 10))
    beyond = ring.sign(token_claims(iat=now - 400, exp=now - 60))
    assert ring.verify(within, issuer=ISSUER, leeway=30)[1]["exp"] == now - 10
    assert _reason(ring, beyond, leeway=30) == "expired"


def test_issued_in_the_future(ring: KeyRing) -> None:
    now = int(time.time())
    assert _reason(ring, ring.sign(token_claims(iat=now + 3600, exp=now + 7200))) == "invalid"


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "sub", "jti"])
def test_required_claims(ring: KeyRing, missing: str) -> None:
    claims = token_claims()
    del claims[missing]
    assert _reason(ring, ring.sign(claims)) == "invalid"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b"])
def test_malformed(ring: KeyRing, token: str) -> None:
    assert _reason(ring, token) in {"malformed", "header"}


def test_jwks_has_public_members_only(signing_key: SigningKey, other_key: SigningKey) -> None:
    keys = KeyRing([signing_key, other_key]).jwks()["keys"]
    assert {key["kid"] for key in keys} == {signing_key.kid, other_key.kid}
    for key in keys:
        assert key["kty"] == "RSA"
        assert key["alg"] == "RS256"
        assert key["use"] == "sig"
        assert key["n"]
        assert key["e"] == "AQAB"
        assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(key)


def test_reprs_hide_private_material(signing_key: SigningKey) -> None:
    pem = signing_key.private_pem().decode()
    assert "PRIVATE KEY" in pem
    for shown in (repr(signing_key), repr(KeyRing([signing_key]))):
        assert "PRIVATE" not in shown
        assert signing_key.kid in shown


@pytest.mark.parametrize(
    ("ahead", "accepted"),
    [
        pytest.param(90, True, id="iat-90s-ahead-skewed-node"),
        pytest.param(110, True, id="iat-within-skew"),
        pytest.param(200, False, id="iat-far-future"),
    ],
)
def test_clock_skew_between_nodes(ring: KeyRing, ahead: int, accepted: bool) -> None:
    now = int(time.time())
    token = ring.sign(token_claims(iat=now + ahead, exp=now + ahead + 600))
    if accepted:
        assert ring.verify(token, issuer=ISSUER)[1]["iat"] == now + ahead
    else:
        assert _reason(ring, token) == "invalid"


def test_not_before_far_in_the_future_is_refused(ring: KeyRing) -> None:
    now = int(time.time())
    assert (
        _reason(ring, ring.sign(token_claims(iat=now, nbf=now + 3600, exp=now + 7200))) == "invalid"
    )

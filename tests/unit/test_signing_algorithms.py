"""RS256, ES256 and EdDSA keys in the key ring: tokens that standard JWT libraries read and
make, keys bound to their algorithm (no algorithm confusion), and the claim checks of the
hand-built verifier kept as they were."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keyloft.domain.signing import (
    ALGORITHMS,
    KeyRing,
    SigningKey,
    TokenRejected,
    generate_signing_key,
    load_signing_key,
)
from tests.support.tokens import ISSUER
from tests.support.tokens import b64url as _b64
from tests.support.tokens import claims as plain_claims

AUDIENCE = "http://issuer.test"
PAST = datetime.now(UTC) - timedelta(days=1)


@pytest.fixture(scope="module")
def keys(signing_key: SigningKey) -> dict[str, SigningKey]:
    """One key per algorithm (the session's RSA key for RS256), each started at another
    moment: of keys that start together only the last ever signs, so only it is published."""
    return {
        "RS256": signing_key,
        "ES256": generate_signing_key(PAST - timedelta(days=1), "ES256"),
        "EdDSA": generate_signing_key(PAST, "EdDSA"),
    }


def _claims(**overrides: Any) -> dict[str, Any]:
    scopes = [{"entityId": 1, "entity": "Ü", "permission": "READ", "resources": []}]
    return plain_claims(**{"scopes": scopes, **overrides})


def _reason(ring: KeyRing, token: str, **kwargs: Any) -> str:
    with pytest.raises(TokenRejected) as caught:
        ring.verify(token, issuer=ISSUER, **kwargs)
    return str(caught.value)


def _public(key: SigningKey) -> Any:
    return key.private_key.public_key()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("typ", [None, "at+jwt"])
def test_round_trip_and_pyjwt_reads_it(
    keys: dict[str, SigningKey], algorithm: str, typ: str | None
) -> None:
    key = keys[algorithm]
    ring = KeyRing([key])
    claims = _claims(aud=AUDIENCE) if typ else _claims()
    token = ring.sign(claims, typ=typ)
    assert jwt.get_unverified_header(token) == {
        "alg": algorithm,
        "kid": key.kid,
        "typ": typ or "JWT",
    }
    assert ring.verify(token, issuer=ISSUER, audience=AUDIENCE) == (typ or "JWT", claims)
    decoded = jwt.decode(
        token,
        _public(key),
        algorithms=[algorithm],
        issuer=ISSUER,
        audience=AUDIENCE if typ else None,
    )
    assert decoded == claims


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tokens_made_by_pyjwt_verify(keys: dict[str, SigningKey], algorithm: str) -> None:
    key = keys[algorithm]
    token = jwt.encode(_claims(), key.private_key, algorithm=algorithm, headers={"kid": key.kid})
    assert KeyRing([key]).verify(token, issuer=ISSUER)[1]["sub"] == "client-key"


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_deterministic_signatures_match_pyjwt_byte_for_byte(
    keys: dict[str, SigningKey], algorithm: str
) -> None:
    key = keys[algorithm]
    claims = _claims()
    expected = jwt.encode(claims, key.private_key, algorithm=algorithm, headers={"kid": key.kid})
    assert KeyRing([key]).sign(claims) == expected


def test_es256_signatures_are_fixed_width(keys: dict[str, SigningKey]) -> None:
    token = KeyRing([keys["ES256"]]).sign(_claims())
    signature = base64.urlsafe_b64decode(token.split(".")[2] + "==")
    assert len(signature) == 64


@pytest.mark.parametrize(
    ("signer", "named"),
    [
        pytest.param("ES256", "RS256", id="es256-key-named-rs256"),
        pytest.param("EdDSA", "ES256", id="eddsa-key-named-es256"),
        pytest.param("RS256", "EdDSA", id="rs256-key-named-eddsa"),
    ],
)
def test_a_token_must_name_its_keys_algorithm(
    keys: dict[str, SigningKey], signer: str, named: str
) -> None:
    """Signed correctly with the ``named`` algorithm's key, but carrying the kid of a key of
    another algorithm: refused before any signature is checked."""
    ring = KeyRing([keys[signer], keys[named]])
    real = jwt.encode(
        _claims(), keys[named].private_key, algorithm=named, headers={"kid": keys[signer].kid}
    )
    assert _reason(ring, real) == "header"


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_hs256_over_the_public_key_is_refused(keys: dict[str, SigningKey], algorithm: str) -> None:
    key = keys[algorithm]
    public_pem = _public(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(_claims()).encode())
    token = head + "." + _b64(hmac.new(public_pem, head.encode(), hashlib.sha256).digest())
    assert _reason(KeyRing([key]), token) == "header"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_alg_none_and_empty_signatures_are_refused(
    keys: dict[str, SigningKey], algorithm: str
) -> None:
    key = keys[algorithm]
    ring = KeyRing([key])
    head, body, _ = ring.sign(_claims()).split(".")
    none = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": key.kid}).encode())
    assert _reason(ring, f"{none}.{body}.") == "header"
    assert _reason(ring, f"{head}.{body}.") == "invalid"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampered_payload_and_foreign_key_are_refused(
    keys: dict[str, SigningKey], algorithm: str
) -> None:
    key = keys[algorithm]
    ring = KeyRing([key])
    head, _, signature = ring.sign(_claims(sub="a")).split(".")
    forged = ".".join([head, _b64(json.dumps(_claims(sub="b")).encode()), signature])
    assert _reason(ring, forged) == "invalid"
    stranger = generate_signing_key(PAST, algorithm) if algorithm != "RS256" else key
    if stranger is not key:
        impostor = SigningKey(key.kid, algorithm, stranger.private_key, PAST)
        assert _reason(ring, KeyRing([impostor]).sign(_claims())) == "invalid"


def test_an_es256_signature_of_the_wrong_size_is_invalid(keys: dict[str, SigningKey]) -> None:
    ring = KeyRing([keys["ES256"]])
    head, body, signature = ring.sign(_claims()).split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    for wrong in (raw[:-1], raw + b"\0", raw[:32]):
        assert _reason(ring, f"{head}.{body}.{_b64(wrong)}") == "invalid"


@pytest.mark.parametrize(
    ("pem_of", "recorded"),
    [("ES256", "RS256"), ("EdDSA", "ES256"), ("RS256", "EdDSA"), ("ES256", "HS256")],
)
def test_a_stored_key_loads_only_as_its_algorithm(
    keys: dict[str, SigningKey], pem_of: str, recorded: str
) -> None:
    with pytest.raises(ValueError, match="signing"):
        load_signing_key("k1", keys[pem_of].private_pem(), PAST, algorithm=recorded)


def test_a_p384_key_is_no_es256_key() -> None:
    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="not a key for ES256"):
        load_signing_key("k1", pem, PAST, algorithm="ES256")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_stored_keys_load_back(keys: dict[str, SigningKey], algorithm: str) -> None:
    key = keys[algorithm]
    loaded = load_signing_key(key.kid, key.private_pem(), PAST, algorithm=algorithm)
    token = KeyRing([loaded]).sign(_claims())
    assert KeyRing([key]).verify(token, issuer=ISSUER)[1]["jti"] == "jti-1"


def test_unknown_algorithms_are_refused() -> None:
    for algorithm in ("HS256", "none", "ES384", "rs256"):
        with pytest.raises(ValueError, match="unsupported signing algorithm"):
            generate_signing_key(PAST, algorithm)


def test_jwks_and_algorithms_of_a_mixed_ring(keys: dict[str, SigningKey]) -> None:
    newest = generate_signing_key(datetime.now(UTC), "ES256")
    ring = KeyRing([keys["RS256"], keys["EdDSA"], newest])
    assert ring.active.kid == newest.kid
    assert ring.algorithms()[0] == "ES256"
    assert sorted(ring.algorithms()) == ["ES256", "EdDSA", "RS256"]
    shapes = {jwk["kid"]: (jwk["kty"], jwk.get("crv"), jwk["alg"]) for jwk in ring.jwks()["keys"]}
    assert shapes[newest.kid] == ("EC", "P-256", "ES256")
    assert shapes[keys["EdDSA"].kid] == ("OKP", "Ed25519", "EdDSA")
    assert shapes[keys["RS256"].kid] == ("RSA", None, "RS256")
    for jwk in ring.jwks()["keys"]:
        assert jwt.PyJWK(jwk).key is not None
        assert "d" not in jwk


@pytest.mark.parametrize(
    ("aud", "audience", "accepted"),
    [
        pytest.param(AUDIENCE, AUDIENCE, True, id="match"),
        pytest.param(["other", AUDIENCE], AUDIENCE, True, id="in-list"),
        pytest.param("other", AUDIENCE, False, id="other"),
        pytest.param(None, AUDIENCE, False, id="missing"),
        pytest.param([1], AUDIENCE, False, id="not-strings"),
        pytest.param({"a": AUDIENCE}, AUDIENCE, False, id="not-a-list"),
        pytest.param(AUDIENCE, None, False, id="unexpected"),
        pytest.param(None, None, True, id="none-expected-none-given"),
    ],
)
def test_audience_of_rfc9068_tokens(
    keys: dict[str, SigningKey], aud: object, audience: str | None, accepted: bool
) -> None:
    ring = KeyRing([keys["EdDSA"]])
    claims = _claims() if aud is None else _claims(aud=aud)
    token = ring.sign(claims, typ="at+jwt")
    if accepted:
        assert ring.verify(token, issuer=ISSUER, audience=audience)[0] == "at+jwt"
    else:
        assert _reason(ring, token, audience=audience) == "invalid"


def test_v3_tokens_do_not_check_the_audience(keys: dict[str, SigningKey]) -> None:
    ring = KeyRing([keys["ES256"]])
    token = ring.sign(_claims(aud="anyone"))
    assert ring.verify(token, issuer=ISSUER, audience=AUDIENCE)[0] == "JWT"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": "soon"}, id="exp-not-a-number"),
        pytest.param({"exp": None}, id="exp-null"),
        pytest.param({"iss": 7}, id="iss-not-a-string"),
        pytest.param({"sub": 7}, id="sub-not-a-string"),
        pytest.param({"jti": 7}, id="jti-not-a-string"),
        pytest.param({"iat": "now"}, id="iat-not-a-number"),
        pytest.param({"nbf": True}, id="nbf-a-boolean"),
    ],
)
def test_malformed_claims_are_invalid(
    keys: dict[str, SigningKey], overrides: dict[str, Any]
) -> None:
    ring = KeyRing([keys["EdDSA"]])
    assert _reason(ring, ring.sign(_claims(**overrides))) == "invalid"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"alg": ["EdDSA"]}, id="alg-a-list"),
        pytest.param({"typ": ["JWT"]}, id="typ-a-list"),
        pytest.param({"crit": ["exp"]}, id="crit"),
    ],
)
def test_odd_headers_are_refused(keys: dict[str, SigningKey], header: dict[str, Any]) -> None:
    key = keys["EdDSA"]
    full = {"alg": "EdDSA", "kid": key.kid, "typ": "JWT", **header}
    head = _b64(json.dumps(full).encode()) + "." + _b64(json.dumps(_claims()).encode())
    token = head + "." + _b64(key.private_key.sign(head.encode()))
    assert _reason(KeyRing([key]), token) in {"header", "typ"}


@pytest.mark.parametrize("token", ["a.b.c.d", "a+b.c.d", "e30.e30.!", " a.b.c", "é.b.c"])
def test_malformed_tokens(keys: dict[str, SigningKey], token: str) -> None:
    assert _reason(KeyRing([keys["RS256"]]), token) == "malformed"

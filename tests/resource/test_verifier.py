"""TokenVerifier: what an offline check accepts and refuses, and its cache of verified tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from keyloft.domain.scopes import Grant, Permission
from keyloft.domain.signing import SigningKey
from keyloft.resource import TokenInvalid, TokenVerifier
from tests.support.resource import (
    AUDIENCE,
    CLIENT_KEY,
    ISSUER,
    JWKS_URL,
    FakeJwks,
    oauth_claims,
    oauth_token,
    sign,
    v3_claims,
    v3_token,
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


async def _reason(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenInvalid) as caught:
        await verifier.verify(token)
    return caught.value.reason


async def test_an_rfc9068_token_passes(verifier: TokenVerifier, signing_key: SigningKey) -> None:
    verified = await verifier.verify(oauth_token(signing_key))
    assert verified.typ == "at+jwt"
    assert verified.oauth
    assert verified.client_key == CLIENT_KEY
    assert verified.org_id == 7
    assert verified.default_till == 70
    assert verified.grants == (
        Grant(1, Permission.READWRITE, ()),
        Grant(2, Permission.READ, ()),
    )
    assert verified.claims["scope"] == "TargetGroups:readwrite All:read"
    with pytest.raises(TypeError):
        verified.claims["org_id"] = 8  # type: ignore[index]


async def test_a_v3_token_passes_without_an_audience(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    verified = await verifier.verify(v3_token(signing_key))
    assert verified.typ == "JWT"
    assert not verified.oauth
    assert verified.client_key == CLIENT_KEY
    assert verified.claims["client_id"] == 41


async def test_v3_tokens_can_be_refused(jwks: FakeJwks, signing_key: SigningKey) -> None:
    strict = TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=jwks, accept_v3_tokens=False)
    assert await _reason(strict, v3_token(signing_key)) == "typ"
    assert (await strict.verify(oauth_token(signing_key))).oauth


async def test_alg_none_is_refused(verifier: TokenVerifier, signing_key: SigningKey) -> None:
    token = _unsigned({"alg": "none", "typ": "at+jwt", "kid": signing_key.kid}, oauth_claims())
    assert await _reason(verifier, token + ".") == "algorithm"
    assert await _reason(verifier, token + "." + _b64(b"x")) == "algorithm"


async def test_hs256_signed_with_the_public_key_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    public = signing_key.private_key.public_key()
    secrets = [
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        json.dumps(signing_key.public_jwk()).encode(),
    ]
    for secret in secrets:
        signing_input = _unsigned(
            {"alg": "HS256", "typ": "at+jwt", "kid": signing_key.kid}, oauth_claims()
        )
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert await _reason(verifier, f"{signing_input}.{_b64(mac)}") == "algorithm"


def test_only_rsa_algorithms_can_be_configured() -> None:
    for algorithms in (("none",), ("HS256",), ("RS256", "HS256"), ()):
        with pytest.raises(ValueError, match="RSA"):
            TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, algorithms=algorithms)


@pytest.mark.parametrize("typ", ["jwt", "at+JWT", "application/jwt", "JOSE", "at+jwt "])
async def test_a_wrong_typ_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey, typ: str
) -> None:
    assert await _reason(verifier, sign(signing_key, oauth_claims(), typ=typ)) == "typ"


async def test_a_missing_typ_is_refused(verifier: TokenVerifier, signing_key: SigningKey) -> None:
    assert await _reason(verifier, sign(signing_key, v3_claims(), typ=None)) == "typ"


async def test_a_v3_token_must_say_token_use(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    # An RFC 9068 token relabelled as v3 would skip the audience check: refused.
    relabelled = sign(signing_key, oauth_claims(aud="https://other.test"), typ="JWT")
    assert await _reason(verifier, relabelled) == "claims"


async def test_a_wrong_issuer_is_refused(verifier: TokenVerifier, signing_key: SigningKey) -> None:
    assert await _reason(verifier, oauth_token(signing_key, iss="https://evil.test")) == "issuer"
    assert await _reason(verifier, v3_token(signing_key, iss="https://evil.test")) == "issuer"


async def test_a_wrong_or_missing_audience_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    assert await _reason(verifier, oauth_token(signing_key, aud="https://api.test")) == "audience"
    missing = oauth_claims()
    del missing["aud"]
    assert await _reason(verifier, sign(signing_key, missing)) == "claims"


async def test_expiry_beyond_the_leeway_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    now = int(time.time())
    expired = oauth_token(signing_key, iat=now - 700, exp=now - 60)
    assert await _reason(verifier, expired) == "expired"
    assert await _reason(verifier, v3_token(signing_key, iat=now - 700, exp=now - 60)) == "expired"


async def test_expiry_within_the_leeway_passes(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    now = int(time.time())
    verified = await verifier.verify(oauth_token(signing_key, iat=now - 700, exp=now - 10))
    assert verified.expires_at == now - 10


async def test_a_future_iat_is_refused(verifier: TokenVerifier, signing_key: SigningKey) -> None:
    """Up to two minutes ahead is another node's clock running fast (±90 s), not a forgery."""
    now = int(time.time())
    assert await _reason(verifier, oauth_token(signing_key, iat=now + 300)) == "not_yet_valid"
    assert await _reason(verifier, oauth_token(signing_key, nbf=now + 300)) == "not_yet_valid"
    assert (await verifier.verify(oauth_token(signing_key, iat=now + 90))).org_id == 7


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "sub", "jti"])
async def test_required_claims(
    verifier: TokenVerifier, signing_key: SigningKey, missing: str
) -> None:
    claims = oauth_claims()
    del claims[missing]
    assert await _reason(verifier, sign(signing_key, claims)) in {"claims", "issuer"}


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"sub": "someone-else"}, id="sub-not-client"),
        pytest.param({"org_id": "7"}, id="org-string"),
        pytest.param({"org_id": True}, id="org-bool"),
        pytest.param({"default_till": "70"}, id="till-string"),
        pytest.param({"scopes": "All:read"}, id="scopes-string"),
        pytest.param({"scopes": [{"entityId": 1, "permission": "ALL"}]}, id="bad-permission"),
    ],
)
async def test_malformed_claims_are_refused(
    verifier: TokenVerifier, signing_key: SigningKey, overrides: dict[str, Any]
) -> None:
    assert await _reason(verifier, oauth_token(signing_key, **overrides)) == "claims"


async def test_a_v3_client_id_must_be_a_number(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    assert await _reason(verifier, v3_token(signing_key, client_id="41")) == "claims"
    assert await _reason(verifier, v3_token(signing_key, client_id=True)) == "claims"


async def test_a_forged_signature_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey, stranger_key: SigningKey
) -> None:
    forged = sign(stranger_key, oauth_claims(), kid=signing_key.kid)
    assert await _reason(verifier, forged) == "signature"
    head, _, signature = oauth_token(signing_key).split(".")
    tampered = _b64(json.dumps(oauth_claims(org_id=8)).encode())
    assert await _reason(verifier, f"{head}.{tampered}.{signature}") == "signature"


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b.c", "x" * 20_000, "e30.e30.", "..."], ids=lambda t: t[:8] or "empty"
)
async def test_garbage_is_malformed(verifier: TokenVerifier, token: str) -> None:
    assert await _reason(verifier, token) in {"malformed", "algorithm"}


async def test_critical_headers_are_refused(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = sign(signing_key, oauth_claims(), crit=["exp"])
    assert await _reason(verifier, token) in {"header", "malformed"}  # PyJWT may refuse first


async def test_a_repeated_token_is_verified_once(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = oauth_token(signing_key)
    first = await verifier.verify(token)
    for _ in range(5):
        assert await verifier.verify(token) is first
    assert verifier.verifications == 1
    assert verifier.cache_hits == 5
    await verifier.verify(oauth_token(signing_key))
    assert verifier.verifications == 2


async def test_cached_tokens_expire_with_the_cache_and_the_token(
    jwks: FakeJwks, signing_key: SigningKey
) -> None:
    now = [time.time()]
    verifier = TokenVerifier(
        JWKS_URL, ISSUER, AUDIENCE, fetch=jwks, cache_seconds=30, clock=lambda: now[0]
    )
    long_lived = oauth_token(signing_key)
    short_lived = oauth_token(signing_key, exp=int(now[0]) + 5)
    await verifier.verify(long_lived)
    await verifier.verify(short_lived)
    now[0] += 6  # past the short token's exp (still within the signature check's leeway)
    await verifier.verify(long_lived)
    await verifier.verify(short_lived)
    assert (verifier.verifications, verifier.cache_hits) == (3, 1)
    now[0] += 30  # past the cache's own limit
    await verifier.verify(long_lived)
    assert (verifier.verifications, verifier.cache_hits) == (4, 1)


async def test_the_cache_is_bounded(jwks: FakeJwks, signing_key: SigningKey) -> None:
    verifier = TokenVerifier(JWKS_URL, ISSUER, AUDIENCE, fetch=jwks, cache_size=2)
    tokens = [oauth_token(signing_key) for _ in range(3)]
    for token in tokens:
        await verifier.verify(token)
    await verifier.verify(tokens[2])
    await verifier.verify(tokens[1])
    assert verifier.cache_hits == 2
    await verifier.verify(tokens[0])  # the least recently used: evicted
    assert verifier.verifications == 4


async def test_refusals_are_not_cached(verifier: TokenVerifier, signing_key: SigningKey) -> None:
    token = oauth_token(signing_key, iss="https://evil.test")
    for _ in range(2):
        assert await _reason(verifier, token) == "issuer"
    assert verifier.verifications == 2
    assert verifier.cache_hits == 0

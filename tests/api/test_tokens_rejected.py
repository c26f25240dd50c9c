"""Forged, tampered, unsigned and expired tokens are refused with ``invalid_token``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest

from keyloft.domain.signing import SigningKey, generate_signing_key
from tests.support.api import ISSUER, OrgFixture, create_client, mint

CLIENTS = "/v3/integrations/clients"


@pytest.fixture(scope="module")
def stranger_key() -> SigningKey:
    return generate_signing_key(datetime.now(UTC))


@pytest.fixture
async def real_token(http: httpx.AsyncClient, org: OrgFixture) -> str:
    created = await create_client(
        http, org, scopes=[{"entityId": 2, "permission": "READ", "resources": []}]
    )
    return await mint(http, created["clientKey"], created["clientSecret"])


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def sign(claims: dict[str, Any], key: SigningKey, kid: str) -> str:
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": kid})


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def call(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.get(CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token})


def assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["data"] is None
    assert isinstance(body["errors"][0]["code"], int)
    assert "invalid_token" in response.headers["WWW-Authenticate"]


async def test_crafted_token_with_the_real_key_is_accepted(
    http: httpx.AsyncClient, real_token: str, signing_key: SigningKey
) -> None:
    """The control for the tests below: crafting itself produces a working token."""
    claims = claims_of(real_token)
    assert claims["iss"] == ISSUER
    claims["jti"] = "crafted-but-valid-jti"
    response = await call(http, sign(claims, signing_key, signing_key.kid))
    assert response.status_code == 200, response.text


async def test_tampered_payload(http: httpx.AsyncClient, real_token: str) -> None:
    header, _, signature = real_token.split(".")
    claims = claims_of(real_token)
    claims["scopes"] = [{"entityId": 2, "permission": "READWRITE", "resources": []}]
    assert_invalid_token(await call(http, f"{header}.{b64(claims)}.{signature}"))


async def test_tampered_signature(http: httpx.AsyncClient, real_token: str) -> None:
    header, payload, signature = real_token.split(".")
    flipped = ("A" if signature[10] != "A" else "B").join([signature[:10], signature[11:]])
    assert_invalid_token(await call(http, f"{header}.{payload}.{flipped}"))


async def test_signed_by_another_rsa_key_with_the_real_kid(
    http: httpx.AsyncClient, real_token: str, signing_key: SigningKey, stranger_key: SigningKey
) -> None:
    assert_invalid_token(
        await call(http, sign(claims_of(real_token), stranger_key, signing_key.kid))
    )


async def test_signed_by_another_rsa_key_with_its_own_kid(
    http: httpx.AsyncClient, real_token: str, stranger_key: SigningKey
) -> None:
    assert_invalid_token(
        await call(http, sign(claims_of(real_token), stranger_key, stranger_key.kid))
    )


async def test_alg_none(http: httpx.AsyncClient, real_token: str, signing_key: SigningKey) -> None:
    unsigned = jwt.encode(
        claims_of(real_token), None, algorithm="none", headers={"kid": signing_key.kid}
    )
    assert_invalid_token(await call(http, unsigned))
    header = b64({"alg": "none", "typ": "JWT", "kid": signing_key.kid})
    assert_invalid_token(await call(http, f"{header}.{b64(claims_of(real_token))}."))


async def test_hs256_with_the_public_key_as_secret(
    http: httpx.AsyncClient, real_token: str, signing_key: SigningKey
) -> None:
    header = b64({"alg": "HS256", "typ": "JWT", "kid": signing_key.kid})
    payload = b64(claims_of(real_token))
    public = json.dumps(signing_key.public_jwk()).encode()
    mac = hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert_invalid_token(await call(http, f"{header}.{payload}.{signature}"))


async def test_expired(http: httpx.AsyncClient, real_token: str, signing_key: SigningKey) -> None:
    claims = claims_of(real_token)
    now = int(time.time())
    claims.update(iat=now - 7200, exp=now - 3600)
    assert_invalid_token(await call(http, sign(claims, signing_key, signing_key.kid)))


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        pytest.param("iss", "http://evil.test", id="wrong-issuer"),
        pytest.param("token_use", "token_refresh", id="wrong-token-use"),
        pytest.param("client_id", 999_999, id="unknown-client"),
        pytest.param("client_id", "1", id="client-id-as-string"),
        pytest.param("sub", "someone-else", id="sub-not-the-client"),
        pytest.param("scopes", "READWRITE", id="scopes-not-a-list"),
    ],
)
async def test_claims_that_do_not_hold(
    http: httpx.AsyncClient,
    real_token: str,
    signing_key: SigningKey,
    claim: str,
    value: object,
) -> None:
    claims = claims_of(real_token)
    claims[claim] = value
    assert_invalid_token(await call(http, sign(claims, signing_key, signing_key.kid)))


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "sub", "jti", "client_id", "scopes"])
async def test_missing_claim(
    http: httpx.AsyncClient, real_token: str, signing_key: SigningKey, missing: str
) -> None:
    claims = claims_of(real_token)
    del claims[missing]
    assert_invalid_token(await call(http, sign(claims, signing_key, signing_key.kid)))


@pytest.mark.parametrize(
    "kid",
    ["unknown-kid", "../../etc/passwd", "' OR 1=1 --", "x" * 200, ""],
)
async def test_unknown_or_injection_shaped_kid(
    http: httpx.AsyncClient, real_token: str, signing_key: SigningKey, kid: str
) -> None:
    assert_invalid_token(await call(http, sign(claims_of(real_token), signing_key, kid)))


@pytest.mark.parametrize(
    "token",
    ["", "not-a-jwt", "a.b.c", "a.b", "....", "é.é.é", "x" * 5000],
)
async def test_garbage(http: httpx.AsyncClient, org: OrgFixture, token: str) -> None:
    value = f"Bearer {token}".encode()
    assert_invalid_token(await http.get(CLIENTS, headers={"Authorization": value}))

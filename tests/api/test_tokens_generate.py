"""The token call: a signed RS256 JWT whose key is published, with the v3 claims."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.api import ISSUER, OrgFixture, create_client

TOKEN = "/v3/oauth/token/generate"
JWKS = "/.well-known/jwks.json"


async def generate(http: httpx.AsyncClient, created: dict[str, Any]) -> httpx.Response:
    return await http.post(
        TOKEN, json={"key": created["clientKey"], "secret": created["clientSecret"]}
    )


async def verified_claims(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    keys = (await http.get(JWKS)).json()["keys"]
    entry = next(key for key in keys if key["kid"] == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(entry).key,
        algorithms=["RS256"],
        issuer=ISSUER,
        options={"require": ["exp", "iat", "iss", "sub", "jti"]},
    )
    return claims


async def test_answer_shape_and_no_store(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org, expirationTokenTime=900)
    response = await generate(http, created)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "errors"}
    assert body["errors"] is None
    assert set(body["data"]) == {"accessToken", "ttlSeconds"}
    assert isinstance(body["data"]["accessToken"], str)
    assert body["data"]["ttlSeconds"] == 900
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Content-Type"].startswith("application/json")


async def test_jwks_publishes_a_2048_bit_rsa_signing_key(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    response = await http.get(JWKS)
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    for entry in keys:
        assert entry["kty"] == "RSA"
        assert entry["alg"] == "RS256"
        assert entry["use"] == "sig"
        assert isinstance(entry["kid"], str)
        assert entry["kid"]
        assert "d" not in entry
        assert "p" not in entry
        assert "q" not in entry
        public = jwt.PyJWK(entry).key
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == 2048


async def test_token_verifies_against_published_key(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(http, org)
    token = (await generate(http, created)).json()["data"]["accessToken"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    kids = {key["kid"] for key in (await http.get(JWKS)).json()["keys"]}
    assert header["kid"] in kids
    claims = await verified_claims(http, token)
    assert claims["iss"] == ISSUER


async def test_claims(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org, expirationTokenTime=750)
    data = (await generate(http, created)).json()["data"]
    claims = await verified_claims(http, data["accessToken"])
    assert claims["iss"] == ISSUER
    assert claims["sub"] == created["clientKey"]
    assert claims["client_key"] == created["clientKey"]
    assert claims["client_id"] == created["id"]
    assert isinstance(claims["client_id"], int)
    assert claims["org_id"] == org.id
    assert claims["default_till"] == org.tills[0].id
    assert claims["token_use"] == "token_access"
    assert claims["exp"] - claims["iat"] == data["ttlSeconds"] == 750
    assert created["expirationTokenTime"] == 750
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16


async def test_scopes_claim_matches_grants(http: httpx.AsyncClient, org: OrgFixture) -> None:
    scopes = [
        {"entityId": 1, "permission": "READWRITE", "resources": [".*v3/targetGroups.*"]},
        {"entityId": 2, "permission": "READ", "resources": []},
        {"entityId": 3, "permission": "WRITE", "resources": [".*v1\\.1/transaction/add"]},
    ]
    created = await create_client(http, org, scopes=scopes)
    claims = await verified_claims(
        http, (await generate(http, created)).json()["data"]["accessToken"]
    )
    got = sorted(
        (scope["entityId"], scope["permission"], scope["resources"]) for scope in claims["scopes"]
    )
    want = sorted((scope["entityId"], scope["permission"], scope["resources"]) for scope in scopes)
    assert got == want
    names = {scope["entityId"]: scope["entity"] for scope in claims["scopes"]}
    entities = (await http.get("/v3/integrations/scopes", headers=org.auth)).json()["data"]
    assert names == {entity["id"]: entity["entity"] for entity in entities}


async def test_jti_is_unique_per_mint(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    first = await verified_claims(
        http, (await generate(http, created)).json()["data"]["accessToken"]
    )
    second = await verified_claims(
        http, (await generate(http, created)).json()["data"]["accessToken"]
    )
    assert first["jti"] != second["jti"]
    assert first["sub"] == second["sub"]


async def test_ttl_follows_an_admin_change(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org, expirationTokenTime=600)
    body = {
        "expirationTokenTime": 120,
        "defaultTillId": org.tills[1].id,
        "scopes": created["scopes"],
    }
    changed = await http.put(
        f"/v3/integrations/clients/{created['clientKey']}", json=body, headers=org.auth
    )
    assert changed.status_code == 200, changed.text
    data = (await generate(http, created)).json()["data"]
    claims = await verified_claims(http, data["accessToken"])
    assert data["ttlSeconds"] == 120 == claims["exp"] - claims["iat"]
    assert claims["default_till"] == org.tills[1].id

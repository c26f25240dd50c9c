"""Signing algorithms on a running node: tokens of RS256, ES256 and EdDSA keys from both token
endpoints verify with the published JWKS, at the decision point and by introspection; a
rotation to another algorithm keeps the old tokens valid; metadata names the algorithms."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import jwt
import pytest

from keyloft.domain.signing import ALGORITHMS, SigningKey
from keyloft.runtime import Runtime
from keyloft.services.clock import SystemClock
from keyloft.services.keys import rotate_signing_key
from tests.support.api import (
    ISSUER,
    OPERATOR,
    OrgFixture,
    client_basic,
    create_client,
    mint,
    oauth_token,
)

JWKS = "/.well-known/jwks.json"
KEY_SHAPES = {
    "RS256": ("RSA", None, {"n", "e"}),
    "ES256": ("EC", "P-256", {"x", "y"}),
    "EdDSA": ("OKP", "Ed25519", {"x"}),
}


async def switch_to(runtime: Runtime, algorithm: str) -> SigningKey:
    """Rotate to a key of ``algorithm`` that signs at once, and reload the node's ring."""
    async with runtime.database.unit_of_work(write=True) as store:
        key = await rotate_signing_key(
            store,
            runtime.server_keys,
            SystemClock().now(),
            0,
            operator=OPERATOR,
            algorithm=algorithm,
        )
    await runtime.refresh()
    return key


async def jwks_verify(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """The claims, verified by PyJWT with the published key and that key's own algorithm."""
    header = jwt.get_unverified_header(token)
    keys = (await http.get(JWKS)).json()["keys"]
    jwk = next(key for key in keys if key["kid"] == header["kid"])
    assert header["alg"] == jwk["alg"]
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=[jwk["alg"]],
        issuer=ISSUER,
        options={"verify_aud": False},
    )
    return claims


async def check_allows(http: httpx.AsyncClient, token: str) -> bool:
    body = {"token": token, "method": "GET", "path": "/v3/targetGroups/12"}
    answer = await http.post("/v3/oauth/check", json=body)
    assert answer.status_code == 200, answer.text
    allowed: bool = answer.json()["data"]["allowed"]
    return allowed


async def introspect_active(http: httpx.AsyncClient, client: dict[str, Any], token: str) -> bool:
    answer = await http.post(
        "/oauth2/introspect",
        data={"token": token},
        headers=client_basic(client["clientKey"], client["clientSecret"]),
    )
    assert answer.status_code == 200, answer.text
    active: bool = answer.json()["active"]
    return active


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_both_endpoints_mint_tokens_that_verify(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, algorithm: str
) -> None:
    key = await switch_to(runtime, algorithm)
    client = await create_client(http, org)
    v3 = await mint(http, client["clientKey"], client["clientSecret"])
    oauth = await oauth_token(http, client)
    for token, typ in ((v3, "JWT"), (oauth, "at+jwt")):
        header = jwt.get_unverified_header(token)
        assert header == {"alg": algorithm, "kid": key.kid, "typ": typ}
        assert (await jwks_verify(http, token))["sub"] == client["clientKey"]
        assert await check_allows(http, token)
        assert await introspect_active(http, client, token)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_jwks_publishes_each_key_with_its_own_type(
    http: httpx.AsyncClient, runtime: Runtime, signing_key: SigningKey, algorithm: str
) -> None:
    key = await switch_to(runtime, algorithm)
    keys = {jwk["kid"]: jwk for jwk in (await http.get(JWKS)).json()["keys"]}
    assert set(keys) == {signing_key.kid, key.kid}
    for kid, alg in ((signing_key.kid, "RS256"), (key.kid, algorithm)):
        kty, crv, members = KEY_SHAPES[alg]
        jwk = keys[kid]
        assert (jwk["kty"], jwk.get("crv"), jwk["alg"], jwk["use"]) == (kty, crv, alg, "sig")
        assert members <= set(jwk)
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)


async def test_a_rotation_to_eddsa_keeps_old_tokens_valid(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, signing_key: SigningKey
) -> None:
    client = await create_client(http, org)
    before = await mint(http, client["clientKey"], client["clientSecret"])
    before_oauth = await oauth_token(http, client)
    assert jwt.get_unverified_header(before)["alg"] == "RS256"

    new = await switch_to(runtime, "EdDSA")
    after = await mint(http, client["clientKey"], client["clientSecret"])
    after_oauth = await oauth_token(http, client)
    for token in (after, after_oauth):
        header = jwt.get_unverified_header(token)
        assert (header["kid"], header["alg"]) == (new.kid, "EdDSA")
    for token in (before, before_oauth, after, after_oauth):
        assert await jwks_verify(http, token)
        assert await check_allows(http, token)
        assert await introspect_active(http, client, token)

    meta = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert meta["access_token_signing_alg_values_supported"] == ["EdDSA", "RS256"]


async def test_a_token_naming_another_algorithm_than_its_key_is_refused(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime
) -> None:
    await switch_to(runtime, "ES256")
    client = await create_client(http, org)
    token = await mint(http, client["clientKey"], client["clientSecret"])
    _, body, signature = token.split(".")
    header = jwt.get_unverified_header(token)
    for alg in ("RS256", "EdDSA", "ES384", "HS256", "none"):
        raw = json.dumps({**header, "alg": alg}).encode()
        forged_head = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        forged = f"{forged_head}.{body}.{signature}"
        assert not await check_allows(http, forged)
        assert not await introspect_active(http, client, forged)


async def test_metadata_lists_the_signing_algorithm(http: httpx.AsyncClient) -> None:
    meta = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert meta["access_token_signing_alg_values_supported"] == ["RS256"]

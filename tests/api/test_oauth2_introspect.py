"""POST /oauth2/introspect (RFC 7662): a client learns the claims of its own live tokens, and
nothing but ``{"active": false}`` about any other string."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from keyloft.domain.signing import SigningKey
from tests.support.api import ISSUER, OrgFixture, client_basic, create_client, mint, oauth_token

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
INTROSPECT = "/oauth2/introspect"
INACTIVE = {"active": False}


async def introspect(
    http: httpx.AsyncClient, client: dict[str, Any], token: str, *, post: bool = False
) -> httpx.Response:
    if post:
        form = {
            "token": token,
            "client_id": client["clientKey"],
            "client_secret": client["clientSecret"],
        }
        return await http.post(INTROSPECT, data=form)
    return await http.post(
        INTROSPECT,
        data={"token": token},
        headers=client_basic(client["clientKey"], client["clientSecret"]),
    )


def assert_inactive(answer: httpx.Response) -> None:
    assert answer.status_code == 200, answer.text
    assert answer.json() == INACTIVE
    assert answer.headers["cache-control"] == "no-store"


@pytest.fixture
async def client(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    return await create_client(
        http,
        org,
        name="introspecting",
        scopes=[
            {"entityId": 1, "permission": "READWRITE", "resources": [".*v3/targetGroups.*"]},
            {"entityId": 2, "permission": "READ", "resources": []},
        ],
    )


@pytest.fixture
async def other(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    return await create_client(http, org, name="someone-else")


@pytest.mark.parametrize("post", [False, True], ids=["client_secret_basic", "client_secret_post"])
async def test_active_oauth_token_answers_its_claims(
    http: httpx.AsyncClient, client: dict[str, Any], org: OrgFixture, post: bool
) -> None:
    token = await oauth_token(http, client, "TargetGroups:read")
    claims = jwt.decode(token, options={"verify_signature": False})
    answer = await introspect(http, client, token, post=post)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["active"] is True
    assert body["scope"] == "TargetGroups:read"
    assert body["client_id"] == client["clientKey"]
    assert body["token_type"] == "Bearer"
    assert body["sub"] == client["clientKey"]
    assert body["iss"] == ISSUER
    assert body["aud"] == ISSUER
    for name in ("exp", "iat", "jti"):
        assert body[name] == claims[name]
    assert body["exp"] - body["iat"] == client["expirationTokenTime"]
    assert body["org_id"] == org.id


@pytest.mark.parametrize("post", [False, True], ids=["client_secret_basic", "client_secret_post"])
async def test_active_v3_token_answers_its_claims(
    http: httpx.AsyncClient, client: dict[str, Any], post: bool
) -> None:
    token = await mint(http, client["clientKey"], client["clientSecret"])
    claims = jwt.decode(token, options={"verify_signature": False})
    answer = await introspect(http, client, token, post=post)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["active"] is True
    assert body["scope"] == "TargetGroups:readwrite All:read"
    assert body["client_id"] == client["clientKey"]
    assert body["token_type"] == "Bearer"
    assert body["sub"] == client["clientKey"]
    assert body["iss"] == ISSUER
    assert (body["exp"], body["iat"], body["jti"]) == (claims["exp"], claims["iat"], claims["jti"])


def forge(signing_key: SigningKey, claims: dict[str, Any], *, age: int) -> str:
    """``claims`` re-signed with the deployment's key, issued ``age`` seconds ago."""
    lifetime = claims["exp"] - claims["iat"]
    issued = int(time.time()) - age
    forged = {**claims, "iat": issued, "exp": issued + lifetime, "aud": ISSUER}
    return jwt.encode(
        forged,
        signing_key.private_key,
        algorithm="RS256",
        headers={"kid": signing_key.kid, "typ": "at+jwt"},
    )


async def test_expired_token_is_inactive(
    http: httpx.AsyncClient, client: dict[str, Any], signing_key: SigningKey
) -> None:
    claims = jwt.decode(await oauth_token(http, client), options={"verify_signature": False})
    fresh = forge(signing_key, claims, age=10)
    assert (await introspect(http, client, fresh)).json()["active"] is True  # forged correctly
    expired = forge(signing_key, claims, age=claims["exp"] - claims["iat"] + 120)
    assert_inactive(await introspect(http, client, expired))


async def test_revoked_token_is_inactive(http: httpx.AsyncClient, client: dict[str, Any]) -> None:
    token = await oauth_token(http, client)
    assert (await introspect(http, client, token)).json()["active"] is True
    revoked = await http.post(
        "/oauth2/revoke",
        data={"token": token},
        headers=client_basic(client["clientKey"], client["clientSecret"]),
    )
    assert revoked.status_code == 200
    assert_inactive(await introspect(http, client, token))


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not-a-token", id="garbage"),
        pytest.param("a.b.c", id="three-dots"),
        pytest.param("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", id="alg-none"),
        pytest.param("x" * 5000, id="long"),
        pytest.param("ünïcødé", id="non-ascii"),
    ],
)
async def test_malformed_token_is_inactive(
    http: httpx.AsyncClient, client: dict[str, Any], token: str
) -> None:
    assert_inactive(await introspect(http, client, token))


async def test_another_clients_token_is_inactive(
    http: httpx.AsyncClient, client: dict[str, Any], other: dict[str, Any]
) -> None:
    for token in (
        await oauth_token(http, other),
        await mint(http, other["clientKey"], other["clientSecret"]),
    ):
        assert (await introspect(http, other, token)).json()["active"] is True
        assert_inactive(await introspect(http, client, token))


async def test_deleted_clients_token_is_inactive(
    http: httpx.AsyncClient, client: dict[str, Any], other: dict[str, Any], org: OrgFixture
) -> None:
    token = await oauth_token(http, other)
    assert (await introspect(http, other, token)).json()["active"] is True
    deleted = await http.delete(f"/v3/integrations/clients/{other['clientKey']}", headers=org.auth)
    assert deleted.status_code == 200, deleted.text
    assert_inactive(await introspect(http, client, token))
    gone = await introspect(http, other, token)  # and the deleted client cannot ask any more
    assert gone.status_code == 401
    assert gone.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-credentials"),
        pytest.param(client_basic("y" * 25, "x" * 40), id="unknown-client"),
    ],
)
async def test_unauthenticated_caller_is_invalid_client(
    http: httpx.AsyncClient, client: dict[str, Any], headers: dict[str, str]
) -> None:
    token = await oauth_token(http, client)
    answer = await http.post(INTROSPECT, data={"token": token}, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
    assert "active" not in answer.json()
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert answer.headers["cache-control"] == "no-store"


async def test_wrong_secret_is_invalid_client(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    token = await oauth_token(http, client)
    answer = await introspect(http, {**client, "clientSecret": "x" * 40}, token)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


@pytest.mark.parametrize("form", [{}, {"token": ""}], ids=["absent", "empty"])
async def test_missing_token_is_invalid_request(
    http: httpx.AsyncClient, client: dict[str, Any], form: dict[str, str]
) -> None:
    answer = await http.post(
        INTROSPECT,
        data=form,
        headers=client_basic(client["clientKey"], client["clientSecret"]) | FORM,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert answer.headers["cache-control"] == "no-store"

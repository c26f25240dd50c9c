"""POST /oauth2/token: client credentials with RFC 9068 tokens, and RFC 6749 §5.2 errors."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from tests.support.api import ISSUER, OrgFixture, client_basic, create_client

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    """client_secret_basic with a form Content-Type, for requests sending a raw body."""
    return client_basic(client_id, secret) | FORM


@pytest.fixture
async def client(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    return await create_client(
        http,
        org,
        scopes=[
            {"entityId": 1, "permission": "READWRITE", "resources": [".*v3/targetGroups.*"]},
            {"entityId": 2, "permission": "READ", "resources": []},
        ],
    )


async def _jwks_key(http: httpx.AsyncClient, token: str) -> Any:
    kid = jwt.get_unverified_header(token)["kid"]
    keys = (await http.get("/.well-known/jwks.json")).json()["keys"]
    return jwt.PyJWK(next(k for k in keys if k["kid"] == kid)).key


async def test_basic_authentication_issues_an_rfc9068_token(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    answer = await http.post(
        "/oauth2/token",
        content="grant_type=client_credentials",
        headers=basic(client["clientKey"], client["clientSecret"]),
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == client["expirationTokenTime"]
    assert body["scope"] == "TargetGroups:readwrite All:read"
    token = body["access_token"]
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = jwt.decode(
        token, await _jwks_key(http, token), algorithms=["RS256"], audience=ISSUER, issuer=ISSUER
    )
    assert claims["client_id"] == claims["sub"] == client["clientKey"]
    assert claims["exp"] - claims["iat"] == client["expirationTokenTime"]
    assert claims["scope"] == body["scope"]
    assert {"jti", "org_id"} <= set(claims)
    assert "refresh_token" not in body


async def test_post_authentication_and_narrowing(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    answer = await http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["clientKey"],
            "client_secret": client["clientSecret"],
            "scope": "TargetGroups:read",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "TargetGroups:read"
    token = answer.json()["access_token"]
    # The narrowed token may read target groups but not use the All entity.
    used = await http.get("/v3/integrations/scopes", headers={"Authorization": f"Bearer {token}"})
    assert used.status_code == 403


@pytest.mark.parametrize(
    ("scope", "error"),
    [
        pytest.param("All:write", "invalid_scope", id="beyond-permission"),
        pytest.param("Transaction:read", "invalid_scope", id="entity-not-granted"),
        pytest.param("Nope:read", "invalid_scope", id="unknown-entity"),
        pytest.param('All:read "x"', "invalid_scope", id="quote"),
        pytest.param("All:read\\", "invalid_scope", id="backslash"),
        pytest.param("All:read\nAll:read", "invalid_scope", id="newline"),
        pytest.param("All:read  All:read", "invalid_scope", id="double-space"),
        pytest.param("All", "invalid_scope", id="no-permission"),
        pytest.param("", "invalid_scope", id="empty"),
    ],
)
async def test_scope_errors(
    http: httpx.AsyncClient, client: dict[str, Any], scope: str, error: str
) -> None:
    answer = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers={
            "Authorization": basic(client["clientKey"], client["clientSecret"])["Authorization"]
        },
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == error


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        pytest.param(
            "grant_type=password&username=a&password=b",
            400,
            "unsupported_grant_type",
            id="password",
        ),
        pytest.param(
            "grant_type=refresh_token&refresh_token=x", 400, "unsupported_grant_type", id="refresh"
        ),
        pytest.param(
            "grant_type=authorization_code&code=x", 400, "unsupported_grant_type", id="code"
        ),
        pytest.param("grant_type=implicit", 400, "unsupported_grant_type", id="implicit"),
        pytest.param("grant_type=", 400, "invalid_request", id="empty-grant"),
        pytest.param("scope=All:read", 400, "invalid_request", id="no-grant"),
        pytest.param(
            "grant_type=client_credentials&grant_type=client_credentials",
            400,
            "invalid_request",
            id="repeated",
        ),
    ],
)
async def test_request_errors(
    http: httpx.AsyncClient, client: dict[str, Any], body: str, status: int, error: str
) -> None:
    answer = await http.post(
        "/oauth2/token",
        content=body,
        headers=basic(client["clientKey"], client["clientSecret"]),
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    assert answer.headers["cache-control"] == "no-store"


async def test_wrong_unknown_and_deleted_clients_are_one_invalid_client(
    http: httpx.AsyncClient, client: dict[str, Any], org: OrgFixture
) -> None:
    async def attempt(key: str, secret: str) -> httpx.Response:
        return await http.post(
            "/oauth2/token",
            content="grant_type=client_credentials",
            headers=basic(key, secret),
        )

    wrong = await attempt(client["clientKey"], "x" * 40)
    unknown = await attempt("y" * 25, "x" * 40)
    await http.delete(f"/v3/integrations/clients/{client['clientKey']}", headers=org.auth)
    deleted = await attempt(client["clientKey"], client["clientSecret"])
    for answer in (wrong, unknown, deleted):
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_client"
        assert answer.headers["www-authenticate"].startswith("Basic")
    assert wrong.json() == unknown.json() == deleted.json()


async def test_get_and_query_credentials_are_refused(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    got = await http.get("/oauth2/token")  # RFC 6749 §3.2: POST only
    assert got.status_code == 405
    assert got.headers["allow"] == "POST"
    assert got.json()["error"] == "invalid_request"
    query = await http.post(
        f"/oauth2/token?client_secret={client['clientSecret']}",
        data={"grant_type": "client_credentials", "client_id": client["clientKey"]},
    )
    assert query.status_code == 400
    assert query.json()["error"] == "invalid_request"


async def test_two_authentication_methods_are_refused(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    answer = await http.post(
        "/oauth2/token",
        content=f"grant_type=client_credentials&client_id={client['clientKey']}"
        f"&client_secret={client['clientSecret']}",
        headers=basic(client["clientKey"], client["clientSecret"]),
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


async def test_metadata_lists_the_endpoints(http: httpx.AsyncClient) -> None:
    meta = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == ISSUER
    assert meta["token_endpoint"] == f"{ISSUER}/oauth2/token"
    assert meta["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert meta["introspection_endpoint"] == f"{ISSUER}/oauth2/introspect"
    assert meta["revocation_endpoint"] == f"{ISSUER}/oauth2/revoke"
    assert meta["grant_types_supported"] == ["client_credentials"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "self_signed_tls_client_auth",
    }
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == [
        "RS256",
        "PS256",
        "ES256",
        "ES384",
        "EdDSA",
        "Ed25519",
    ]

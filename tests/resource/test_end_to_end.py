"""Tokens Keyloft issues, verified offline against the JWKS Keyloft serves: the middleware
decides exactly as the decision point (POST /v3/oauth/check) does — until something changes
after issue, which only the decision point can see."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from keyloft.resource import KeyloftMiddleware, TokenVerifier
from tests.support.api import BASE_URL, ISSUER, OrgFixture, create_client, mint
from tests.support.resource import call

CALLS = [
    ("GET", "/v3/targetGroups/12"),
    ("PUT", "/v3/targetGroups/12"),
    ("DELETE", "/v3/targetGroups/12"),
    ("GET", "/v3/targetGroups"),
    ("GET", "/V3/TargetGroups/12"),
    ("GET", "/v3/targetGroups/12?expand=all"),
    ("GET", "/v2/customers"),
    ("HEAD", "/v2/customers/7"),
    ("POST", "/v2/customers"),
    ("OPTIONS", "/v2/customers"),
    ("GET", "/v3/integrations/scopes"),
    ("POST", "/v1.1/transaction"),
    ("POST", "/v1.1/transaction/9"),
    ("GET", "/v1.1/transaction"),
    ("GET", "/v2/a/../v3/targetGroups/1"),
    ("GET", "/v3/targetGroups/1%2F..%2F2"),
    ("GET", "/v2/%2e%2e/customers"),
]
SCOPES = [
    {"entityId": 1, "permission": "READWRITE", "resources": [".*v3/targetGroups/[0-9]+"]},
    {"entityId": 2, "permission": "READ", "resources": []},
    {"entityId": 3, "permission": "WRITE", "resources": [".*v1\\.1/transaction"]},
]


async def _upstream(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def client(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    return await create_client(http, org, scopes=SCOPES)


@pytest.fixture
def verifier(http: httpx.AsyncClient) -> TokenVerifier:
    """Fetches the JWKS from the app itself, through the test's ASGI transport."""
    return TokenVerifier(f"{BASE_URL}/.well-known/jwks.json", ISSUER, ISSUER, http_client=http)


async def _oauth_token(http: httpx.AsyncClient, client: dict[str, Any], scope: str = "") -> str:
    form = {"grant_type": "client_credentials", "scope": scope} if scope else {}
    answer = await http.post(
        "/oauth2/token",
        data=form or {"grant_type": "client_credentials"},
        auth=(client["clientKey"], client["clientSecret"]),
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


async def _tokens(http: httpx.AsyncClient, client: dict[str, Any]) -> dict[str, str]:
    return {
        "v3": await mint(http, client["clientKey"], client["clientSecret"]),
        "oauth": await _oauth_token(http, client),
        "oauth-narrowed": await _oauth_token(http, client, "TargetGroups:read All:read"),
    }


async def _checked(http: httpx.AsyncClient, token: str, method: str, path: str) -> bool:
    answer = await http.post(
        "/v3/oauth/check", json={"token": token, "method": method, "path": path}
    )
    assert answer.status_code == 200, answer.text
    allowed: bool = answer.json()["data"]["allowed"]
    return allowed


async def test_offline_decisions_agree_with_the_decision_point(
    http: httpx.AsyncClient, client: dict[str, Any], verifier: TokenVerifier
) -> None:
    guarded = KeyloftMiddleware(_upstream, verifier)
    tokens = await _tokens(http, client)
    for kind, token in tokens.items():
        outcomes = set()
        for method, path in CALLS:
            expected = await _checked(http, token, method, path)
            answer, scope = await call(
                guarded, method, path, [("Authorization", f"Bearer {token}")]
            )
            assert answer.status == (200 if expected else 403), (kind, method, path)
            if expected:
                assert scope["state"]["keyloft"].client_key == client["clientKey"]
            outcomes.add(expected)
        assert outcomes == {True, False}, kind  # the table tells allowed from refused
    assert verifier.jwks.fetches == 1


async def test_both_token_kinds_identify_the_client(
    http: httpx.AsyncClient, client: dict[str, Any], verifier: TokenVerifier, org: OrgFixture
) -> None:
    tokens = await _tokens(http, client)
    v3 = await verifier.verify(tokens["v3"])
    oauth = await verifier.verify(tokens["oauth"])
    narrowed = await verifier.verify(tokens["oauth-narrowed"])
    for verified in (v3, oauth, narrowed):
        assert verified.client_key == client["clientKey"]
        assert verified.org_id == org.id
        assert verified.default_till == org.tills[0].id
    assert (v3.typ, oauth.typ) == ("JWT", "at+jwt")
    assert len(v3.grants) == len(oauth.grants) == 3
    assert len(narrowed.grants) == 2


async def test_an_invalid_token_is_refused_by_both(
    http: httpx.AsyncClient, client: dict[str, Any], verifier: TokenVerifier
) -> None:
    token = await _oauth_token(http, client)
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    assert not await _checked(http, forged, "GET", "/v2/customers")
    answer, _ = await call(
        KeyloftMiddleware(_upstream, verifier),
        "GET",
        "/v2/customers",
        [("Authorization", f"Bearer {forged}")],
    )
    assert answer.status == 401


async def test_offline_verification_cannot_see_a_deleted_client(
    http: httpx.AsyncClient, client: dict[str, Any], verifier: TokenVerifier, org: OrgFixture
) -> None:
    token = await _oauth_token(http, client)
    assert await _checked(http, token, "GET", "/v2/customers")
    deleted = await http.delete(f"/v3/integrations/clients/{client['clientKey']}", headers=org.auth)
    assert deleted.status_code == 200, deleted.text
    assert not await _checked(http, token, "GET", "/v2/customers")
    # The documented trade-off: offline, the token stays good until it expires.
    assert (await verifier.verify(token)).client_key == client["clientKey"]

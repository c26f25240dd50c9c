"""Credentials in more than one form at once are refused before anything is verified."""

from __future__ import annotations

import httpx

from tests.support.api import OrgFixture, create_client, mint

CLIENTS = "/v3/integrations/clients"


async def test_basic_and_token_together_is_400(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    token = await mint(http, created["clientKey"], created["clientSecret"])
    response = await http.get(CLIENTS, headers={**org.auth, "X-CAP-API-OAUTH-TOKEN": token})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["field"] == "Authorization"
    assert isinstance(body["errors"][0]["code"], int)


async def test_basic_and_garbage_token_together_is_400(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    response = await http.get(CLIENTS, headers={**org.auth, "X-CAP-API-OAUTH-TOKEN": "x.y.z"})
    assert response.status_code == 400, response.text
    assert response.json()["data"] is None


async def test_two_different_tokens_is_400(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    first = await mint(http, created["clientKey"], created["clientSecret"])
    second = await mint(http, created["clientKey"], created["clientSecret"])
    assert first != second
    response = await http.get(
        CLIENTS,
        headers={"X-CAP-API-OAUTH-TOKEN": first, "Authorization": f"Bearer {second}"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "Authorization"


async def test_same_token_in_both_headers_is_accepted(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(
        http, org, scopes=[{"entityId": 2, "permission": "READ", "resources": []}]
    )
    token = await mint(http, created["clientKey"], created["clientSecret"])
    response = await http.get(
        CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text

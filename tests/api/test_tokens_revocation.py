"""Issued tokens follow their client: narrowing removes access, deleting ends it, at once."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import OrgFixture, client_body, create_client, mint

CLIENTS = "/v3/integrations/clients"
SCOPES = "/v3/integrations/scopes"


def grant(entity: int, permission: str, *resources: str) -> dict[str, Any]:
    return {"entityId": entity, "permission": permission, "resources": list(resources)}


async def narrow(
    http: httpx.AsyncClient, org: OrgFixture, created: dict[str, Any], scopes: list[dict[str, Any]]
) -> None:
    response = await http.put(
        f"{CLIENTS}/{created['clientKey']}",
        json={
            "expirationTokenTime": created["expirationTokenTime"],
            "defaultTillId": created["defaultTillId"],
            "scopes": scopes,
        },
        headers=org.auth,
    )
    assert response.status_code == 200, response.text


def assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["data"] is None
    assert "invalid_token" in response.headers["WWW-Authenticate"]


async def test_removed_permission_is_lost_at_once(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org, scopes=[grant(2, "READWRITE")])
    headers = {
        "X-CAP-API-OAUTH-TOKEN": await mint(http, created["clientKey"], created["clientSecret"])
    }
    writable = client_body(org, name="before", scopes=[grant(2, "READ")])
    assert (await http.post(CLIENTS, json=writable, headers=headers)).status_code == 200

    await narrow(http, org, created, [grant(2, "READ")])

    refused = await http.post(CLIENTS, json={**writable, "name": "after"}, headers=headers)
    assert refused.status_code == 403, refused.text
    names = {c["name"] for c in (await http.get(CLIENTS, headers=org.auth)).json()["data"]}
    assert "after" not in names


async def test_removed_entity_is_lost_at_once(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org, scopes=[grant(1, "READ"), grant(2, "READ")])
    headers = {
        "X-CAP-API-OAUTH-TOKEN": await mint(http, created["clientKey"], created["clientSecret"])
    }
    assert (await http.get(CLIENTS, headers=headers)).status_code == 200

    await narrow(http, org, created, [grant(1, "READ")])

    assert (await http.get(CLIENTS, headers=headers)).status_code == 403
    assert (await http.get(SCOPES, headers=headers)).status_code == 403


async def test_added_resource_limit_applies_at_once(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(http, org, scopes=[grant(2, "READ")])
    headers = {
        "X-CAP-API-OAUTH-TOKEN": await mint(http, created["clientKey"], created["clientSecret"])
    }
    assert (await http.get(CLIENTS, headers=headers)).status_code == 200

    await narrow(http, org, created, [grant(2, "READ", ".*/v3/integrations/scopes")])

    assert (await http.get(CLIENTS, headers=headers)).status_code == 403


async def test_widening_a_client_does_not_widen_old_tokens(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(http, org, scopes=[grant(2, "READ")])
    headers = {
        "X-CAP-API-OAUTH-TOKEN": await mint(http, created["clientKey"], created["clientSecret"])
    }

    await narrow(http, org, created, [grant(2, "READWRITE")])

    body = client_body(org, name="made", scopes=[grant(2, "READ")])
    assert (await http.post(CLIENTS, json=body, headers=headers)).status_code == 403
    fresh = {
        "X-CAP-API-OAUTH-TOKEN": await mint(http, created["clientKey"], created["clientSecret"])
    }
    assert (await http.post(CLIENTS, json=body, headers=fresh)).status_code == 200


async def test_deleted_clients_token_is_401_at_once(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(http, org, scopes=[grant(2, "READ")])
    token = await mint(http, created["clientKey"], created["clientSecret"])
    assert (await http.get(CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token})).status_code == 200

    deleted = await http.delete(f"{CLIENTS}/{created['clientKey']}", headers=org.auth)
    assert deleted.status_code == 200, deleted.text

    assert_invalid_token(await http.get(CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token}))
    assert_invalid_token(await http.get(SCOPES, headers={"Authorization": f"Bearer {token}"}))

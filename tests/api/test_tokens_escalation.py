"""A token can never create or widen a client beyond its own scopes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import OrgFixture, client_body, create_client, mint

CLIENTS = "/v3/integrations/clients"


async def token_for(
    http: httpx.AsyncClient, org: OrgFixture, scopes: list[dict[str, Any]]
) -> dict[str, str]:
    created = await create_client(http, org, name="caller", scopes=scopes)
    return {
        "X-CAP-API-OAUTH-TOKEN": await mint(http, created["clientKey"], created["clientSecret"])
    }


def grant(entity: int, permission: str, *resources: str) -> dict[str, Any]:
    return {"entityId": entity, "permission": permission, "resources": list(resources)}


async def client_keys(http: httpx.AsyncClient, org: OrgFixture) -> set[str]:
    response = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    return {client["clientKey"] for client in response.json()["data"]}


def assert_denied(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["errors"][0]["code"] == 4000
    assert response.json()["data"] is None


@pytest.mark.parametrize(
    ("holder", "wanted"),
    [
        pytest.param([grant(2, "WRITE")], [grant(2, "READWRITE")], id="wider-permission"),
        pytest.param([grant(2, "WRITE")], [grant(2, "READ")], id="other-permission"),
        pytest.param([grant(2, "READWRITE")], [grant(1, "READ")], id="entity-it-lacks"),
        pytest.param(
            [grant(2, "READWRITE")],
            [grant(2, "READWRITE"), grant(3, "WRITE")],
            id="extra-entity",
        ),
        pytest.param(
            [grant(2, "READWRITE", ".*/v3/integrations/.*")],
            [grant(2, "READWRITE")],
            id="drops-resource-limit",
        ),
        pytest.param(
            [grant(2, "READWRITE", ".*/v3/integrations/.*")],
            [grant(2, "READWRITE", ".*")],
            id="other-resource",
        ),
    ],
)
async def test_create_beyond_own_scopes_is_403(
    http: httpx.AsyncClient,
    org: OrgFixture,
    holder: list[dict[str, Any]],
    wanted: list[dict[str, Any]],
) -> None:
    headers = await token_for(http, org, holder)
    before = await client_keys(http, org)
    response = await http.post(
        CLIENTS, json=client_body(org, name="wider", scopes=wanted), headers=headers
    )
    assert_denied(response)
    assert await client_keys(http, org) == before


@pytest.mark.parametrize(
    ("holder", "wanted"),
    [
        pytest.param([grant(2, "READWRITE")], [grant(2, "READWRITE")], id="equal"),
        pytest.param([grant(2, "READWRITE")], [grant(2, "READ")], id="narrower-permission"),
        pytest.param(
            [grant(2, "READWRITE")], [grant(2, "WRITE", ".*/v3/.*")], id="narrower-resources"
        ),
        pytest.param(
            [grant(1, "READWRITE"), grant(2, "WRITE")],
            [grant(2, "WRITE")],
            id="subset-of-entities",
        ),
        pytest.param(
            [grant(2, "WRITE", ".*/v3/integrations/clients", ".*/v3/integrations/clients/.*")],
            [grant(2, "WRITE", ".*/v3/integrations/clients")],
            id="subset-of-patterns",
        ),
    ],
)
async def test_create_within_own_scopes_is_200(
    http: httpx.AsyncClient,
    org: OrgFixture,
    holder: list[dict[str, Any]],
    wanted: list[dict[str, Any]],
) -> None:
    headers = await token_for(http, org, holder)
    response = await http.post(
        CLIENTS, json=client_body(org, name="within", scopes=wanted), headers=headers
    )
    assert response.status_code == 200, response.text
    got = sorted(
        (s["entityId"], s["permission"], s["resources"]) for s in response.json()["data"]["scopes"]
    )
    assert got == sorted((s["entityId"], s["permission"], s["resources"]) for s in wanted)


async def test_put_giving_more_is_403_and_changes_nothing(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    headers = await token_for(http, org, [grant(2, "READWRITE")])
    target = await create_client(http, org, name="target", scopes=[grant(2, "READ")])
    url = f"{CLIENTS}/{target['clientKey']}"
    before = await http.get(url, headers=org.auth)
    wider = {
        "name": "widened",
        "expirationTokenTime": target["expirationTokenTime"],
        "defaultTillId": target["defaultTillId"],
        "scopes": [grant(2, "READ"), grant(1, "READ")],
    }
    assert_denied(await http.put(url, json=wider, headers=headers))
    after = await http.get(url, headers=org.auth)
    assert after.json() == before.json()
    assert after.headers["ETag"] == before.headers["ETag"]


async def test_put_on_itself_giving_more_is_403(http: httpx.AsyncClient, org: OrgFixture) -> None:
    caller = await create_client(http, org, name="caller", scopes=[grant(2, "READWRITE")])
    headers = {
        "X-CAP-API-OAUTH-TOKEN": await mint(http, caller["clientKey"], caller["clientSecret"])
    }
    url = f"{CLIENTS}/{caller['clientKey']}"
    body = {
        "expirationTokenTime": caller["expirationTokenTime"],
        "defaultTillId": caller["defaultTillId"],
        "scopes": [grant(2, "READWRITE"), grant(3, "READWRITE")],
    }
    assert_denied(await http.put(url, json=body, headers=headers))
    scopes = (await http.get(url, headers=org.auth)).json()["data"]["scopes"]
    assert [s["entityId"] for s in scopes] == [2]


async def test_cannot_change_or_delete_a_client_wider_than_itself(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    headers = await token_for(http, org, [grant(2, "READWRITE")])
    target = await create_client(
        http, org, name="target", scopes=[grant(1, "READ"), grant(2, "READ")]
    )
    url = f"{CLIENTS}/{target['clientKey']}"
    before = await http.get(url, headers=org.auth)
    narrowed = {
        "expirationTokenTime": target["expirationTokenTime"],
        "defaultTillId": target["defaultTillId"],
        "scopes": [grant(2, "READ")],
    }
    assert_denied(await http.put(url, json=narrowed, headers=headers))
    assert_denied(await http.delete(url, headers=headers))
    after = await http.get(url, headers=org.auth)
    assert after.json() == before.json()
    assert after.json()["data"]["isValid"] is True

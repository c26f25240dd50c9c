"""Changes made with a token are attributed to a Till: the default one, or one named in headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import OrgFixture, client_body, create_client, mint

CLIENTS = "/v3/integrations/clients"
ALL_RW = [{"entityId": 2, "permission": "READWRITE", "resources": []}]
ALL_READ = [{"entityId": 2, "permission": "READ", "resources": []}]


@pytest.fixture
async def token(http: httpx.AsyncClient, org: OrgFixture) -> str:
    created = await create_client(
        http, org, name="caller", scopes=ALL_RW, defaultTillId=org.tills[0].id
    )
    return await mint(http, created["clientKey"], created["clientSecret"])


def actor(response: httpx.Response, which: str) -> tuple[int, str, str]:
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    found = data["attribution"][which]
    return found["id"], found["code"], found["type"]


async def test_default_till_creates(http: httpx.AsyncClient, org: OrgFixture, token: str) -> None:
    response = await http.post(
        CLIENTS,
        json=client_body(org, name="made", scopes=ALL_READ),
        headers={"X-CAP-API-OAUTH-TOKEN": token},
    )
    till = org.tills[0]
    assert actor(response, "createdBy") == (till.id, till.code, "TILL")
    assert actor(response, "lastUpdatedBy") == (till.id, till.code, "TILL")


async def test_named_till_creates(http: httpx.AsyncClient, org: OrgFixture, token: str) -> None:
    other = org.tills[1]
    response = await http.post(
        CLIENTS,
        json=client_body(org, name="made", scopes=ALL_READ),
        headers={
            "X-CAP-API-OAUTH-TOKEN": token,
            "X-CAP-API-ATTRIBUTION-ENTITY-TYPE": "TILL",
            "X-CAP-API-ATTRIBUTION-ENTITY-CODE": other.code,
        },
    )
    assert actor(response, "createdBy") == (other.id, other.code, "TILL")


async def test_named_till_updates_and_deletes(
    http: httpx.AsyncClient, org: OrgFixture, token: str
) -> None:
    target = await create_client(http, org, name="target", scopes=ALL_READ)
    url = f"{CLIENTS}/{target['clientKey']}"
    other = org.tills[1]
    headers = {
        "Authorization": f"Bearer {token}",
        "X-CAP-API-ATTRIBUTION-ENTITY-TYPE": "TILL",
        "X-CAP-API-ATTRIBUTION-ENTITY-CODE": other.code,
    }
    body = {
        "description": "changed",
        "expirationTokenTime": 60,
        "defaultTillId": org.tills[0].id,
        "scopes": ALL_READ,
    }
    updated = await http.put(url, json=body, headers=headers)
    assert actor(updated, "lastUpdatedBy") == (other.id, other.code, "TILL")
    assert actor(updated, "createdBy") == (org.admin.id, org.admin.code, "ADMIN_USER")
    deleted = await http.delete(url, headers={**headers, "X-CAP-API-OAUTH-TOKEN": token})
    assert actor(deleted, "lastUpdatedBy") == (other.id, other.code, "TILL")


async def test_another_orgs_till_is_403(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture, token: str
) -> None:
    before = (await http.get(CLIENTS, headers=org.auth)).json()["data"]
    response = await http.post(
        CLIENTS,
        json=client_body(org, name="made", scopes=ALL_READ),
        headers={
            "X-CAP-API-OAUTH-TOKEN": token,
            "X-CAP-API-ATTRIBUTION-ENTITY-TYPE": "TILL",
            "X-CAP-API-ATTRIBUTION-ENTITY-CODE": other_org.tills[0].code,
        },
    )
    assert response.status_code == 403, response.text
    assert response.json()["data"] is None
    assert response.json()["errors"][0]["code"] == 4000
    assert (await http.get(CLIENTS, headers=org.auth)).json()["data"] == before
    others = (await http.get(CLIENTS, headers=other_org.auth)).json()["data"]
    assert others == []


@pytest.mark.parametrize(
    "attribution",
    [
        pytest.param({"X-CAP-API-ATTRIBUTION-ENTITY-TYPE": "TILL"}, id="type-without-code"),
        pytest.param({"X-CAP-API-ATTRIBUTION-ENTITY-CODE": "acme.till.2"}, id="code-without-type"),
        pytest.param(
            {
                "X-CAP-API-ATTRIBUTION-ENTITY-TYPE": "ADMIN_USER",
                "X-CAP-API-ATTRIBUTION-ENTITY-CODE": "acme-admin",
            },
            id="admin-user",
        ),
        pytest.param(
            {
                "X-CAP-API-ATTRIBUTION-ENTITY-TYPE": "TILL",
                "X-CAP-API-ATTRIBUTION-ENTITY-CODE": "acme-admin",
            },
            id="admin-code-as-till",
        ),
        pytest.param(
            {
                "X-CAP-API-ATTRIBUTION-ENTITY-TYPE": "TILL",
                "X-CAP-API-ATTRIBUTION-ENTITY-CODE": "no.such.till",
            },
            id="unknown-till",
        ),
    ],
)
async def test_unusable_attribution_is_403(
    http: httpx.AsyncClient, org: OrgFixture, token: str, attribution: dict[str, str]
) -> None:
    response = await http.post(
        CLIENTS,
        json=client_body(org, name="made", scopes=ALL_READ),
        headers={"X-CAP-API-OAUTH-TOKEN": token, **attribution},
    )
    assert response.status_code == 403, response.text
    names = {c["name"] for c in (await http.get(CLIENTS, headers=org.auth)).json()["data"]}
    assert "made" not in names


async def test_attribution_headers_do_not_change_basic_callers(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    response = await http.post(
        CLIENTS,
        json=client_body(org, name="made"),
        headers={
            **org.auth,
            "X-CAP-API-ATTRIBUTION-ENTITY-TYPE": "TILL",
            "X-CAP-API-ATTRIBUTION-ENTITY-CODE": org.tills[1].code,
        },
    )
    assert actor(response, "createdBy") == (org.admin.id, org.admin.code, "ADMIN_USER")

"""PUT /clients/{key}: what it keeps, what it replaces, and how attribution moves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from keyloft.runtime import Runtime
from tests.support.api import OrgFixture, create_client

CLIENTS = "/v3/integrations/clients"
LATER = datetime(2031, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def change(org: OrgFixture, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "expirationTokenTime": 1200,
        "defaultTillId": org.tills[1].id,
        "scopes": [
            {"entityId": 3, "permission": "READ", "resources": [r".*v1\.1/transaction/add"]}
        ],
    }
    return body | overrides


async def test_absent_name_and_description_are_kept(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(http, org, name="keeper", description="kept text")
    key = created["clientKey"]
    response = await http.put(f"{CLIENTS}/{key}", json=change(org), headers=org.auth)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["name"] == "keeper"
    assert data["description"] == "kept text"
    assert data["expirationTokenTime"] == 1200
    assert data["defaultTillId"] == org.tills[1].id
    assert data["clientKey"] == key
    assert data["id"] == created["id"]
    nulls = change(org, name=None, description=None)
    again = await http.put(f"{CLIENTS}/{key}", json=nulls, headers=org.auth)
    assert again.status_code == 200, again.text
    assert (again.json()["data"]["name"], again.json()["data"]["description"]) == (
        "keeper",
        "kept text",
    )


async def test_name_and_description_change_when_given(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(http, org, name="before")
    body = change(org, name="after", description="")
    response = await http.put(f"{CLIENTS}/{created['clientKey']}", json=body, headers=org.auth)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == "after"
    assert response.json()["data"]["description"] == ""
    listed = (await http.get(CLIENTS, headers=org.auth)).json()["data"]
    assert [entry["name"] for entry in listed] == ["after"]


async def test_scopes_are_replaced(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    assert [s["entityId"] for s in created["scopes"]] == [1, 2]
    key = created["clientKey"]
    response = await http.put(f"{CLIENTS}/{key}", json=change(org), headers=org.auth)
    assert response.status_code == 200, response.text
    expected = [{"permission": "READ", "entityId": 3, "resources": [r".*v1\.1/transaction/add"]}]
    assert response.json()["data"]["scopes"] == expected
    detail = (await http.get(f"{CLIENTS}/{key}", headers=org.auth)).json()["data"]
    assert detail["scopes"] == expected


async def test_attribution_moves_on_update(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime
) -> None:
    created = await create_client(http, org)
    key = created["clientKey"]
    runtime.clock = FixedClock(LATER)
    till = org.tills[0]
    response = await http.put(f"{CLIENTS}/{key}", json=change(org), headers=till.headers)
    assert response.status_code == 200, response.text
    attribution = response.json()["data"]["attribution"]
    assert attribution["createdOn"] == created["attribution"]["createdOn"]
    assert attribution["createdBy"] == created["attribution"]["createdBy"]
    assert attribution["createdBy"]["type"] == "ADMIN_USER"
    assert attribution["lastUpdatedOn"] == "2031-01-02T08:34:05.678+0530"
    assert attribution["lastUpdatedBy"] == {
        "id": till.id,
        "code": till.code,
        "description": "",
        "name": "Acme Till 1",
        "type": "TILL",
    }
    detail = (await http.get(f"{CLIENTS}/{key}", headers=org.auth)).json()["data"]
    assert detail["attribution"] == attribution
    listed = (await http.get(CLIENTS, headers=org.auth)).json()["data"]
    assert listed[0]["attribution"] == attribution


async def test_update_does_not_touch_other_clients(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    first = await create_client(http, org, name="first")
    second = await create_client(http, org, name="second")
    before = (await http.get(f"{CLIENTS}/{second['clientKey']}", headers=org.auth)).json()
    response = await http.put(f"{CLIENTS}/{first['clientKey']}", json=change(org), headers=org.auth)
    assert response.status_code == 200
    after = (await http.get(f"{CLIENTS}/{second['clientKey']}", headers=org.auth)).json()
    assert after == before

"""DELETE /clients/{key} is soft: the client stays readable but cannot change or mint tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from keyloft.domain.errors import ClientDeleted
from keyloft.runtime import Runtime
from tests.support.api import OrgFixture, client_body, create_client, mint

CLIENTS = "/v3/integrations/clients"
TOKEN = "/v3/oauth/token/generate"
LATER = datetime(2030, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


async def everything(http: httpx.AsyncClient, org: OrgFixture) -> list[dict[str, Any]]:
    response = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_delete_returns_the_invalidated_record(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime
) -> None:
    created = await create_client(http, org)
    runtime.clock = FixedClock(LATER)
    till = org.tills[1]
    response = await http.delete(f"{CLIENTS}/{created['clientKey']}", headers=till.headers)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["errors"] is None
    data = payload["data"]
    assert data["isValid"] is False
    assert "scopes" not in data
    assert "clientSecret" not in data
    assert data["clientKey"] == created["clientKey"]
    assert data["id"] == created["id"]
    for key in ("name", "description", "expirationTokenTime", "defaultTillId"):
        assert data[key] == created[key]
    attribution = data["attribution"]
    assert attribution["createdOn"] == created["attribution"]["createdOn"]
    assert attribution["createdBy"] == created["attribution"]["createdBy"]
    assert attribution["lastUpdatedOn"] == "2030-06-01T17:30:00.250+0530"
    assert attribution["lastUpdatedBy"]["id"] == till.id
    assert attribution["lastUpdatedBy"]["type"] == "TILL"


async def test_deleted_client_listed_only_on_request(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    kept = await create_client(http, org, name="kept")
    gone = await create_client(http, org, name="gone")
    response = await http.delete(f"{CLIENTS}/{gone['clientKey']}", headers=org.auth)
    assert response.status_code == 200
    default = (await http.get(CLIENTS, headers=org.auth)).json()["data"]
    assert [c["clientKey"] for c in default] == [kept["clientKey"]]
    explicit = await http.get(CLIENTS, params={"includeInvalid": "false"}, headers=org.auth)
    assert [c["clientKey"] for c in explicit.json()["data"]] == [kept["clientKey"]]
    listed = await everything(http, org)
    assert [(c["clientKey"], c["isValid"]) for c in listed] == [
        (kept["clientKey"], True),
        (gone["clientKey"], False),
    ]
    assert listed[1] == response.json()["data"]


async def test_deleted_client_stays_readable(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    key = created["clientKey"]
    deleted = (await http.delete(f"{CLIENTS}/{key}", headers=org.auth)).json()["data"]
    response = await http.get(f"{CLIENTS}/{key}", headers=org.auth)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["isValid"] is False
    assert data["scopes"] == created["scopes"]
    # The summary a deletion answers is the detail less what only a client's own answer shows.
    detail_only = {
        "scopes",
        "jwks",
        "jwksUri",
        "federatedCredentials",
        "tlsClientAuthSubjectDn",
        "tlsClientAuthSanDns",
        "tlsClientAuthSanUri",
        "tlsClientAuthSanIp",
        "tlsClientAuthSanEmail",
        "keys",
        "lastUsedCredential",
    }
    assert {k: v for k, v in data.items() if k not in detail_only} == deleted


async def test_deleted_client_cannot_change(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    key = created["clientKey"]
    assert (await http.delete(f"{CLIENTS}/{key}", headers=org.auth)).status_code == 200
    before = await everything(http, org)
    detail_before = (await http.get(f"{CLIENTS}/{key}", headers=org.auth)).json()
    attempts = [
        await http.put(f"{CLIENTS}/{key}", json=client_body(org, name="zombie"), headers=org.auth),
        await http.delete(f"{CLIENTS}/{key}", headers=org.auth),
        await http.delete(f"{CLIENTS}/{key}", headers=org.tills[0].headers),
    ]
    for response in attempts:
        assert response.status_code == 409, response.text
        payload = response.json()
        assert payload["data"] is None
        assert payload["errors"][0]["code"] == ClientDeleted.code == 4093
    assert await everything(http, org) == before
    assert (await http.get(f"{CLIENTS}/{key}", headers=org.auth)).json() == detail_before


async def test_deleted_client_cannot_mint(http: httpx.AsyncClient, org: OrgFixture) -> None:
    doomed = await create_client(http, org, name="doomed")
    alive = await create_client(http, org, name="alive")
    assert await mint(http, doomed["clientKey"], doomed["clientSecret"])
    assert (
        await http.delete(f"{CLIENTS}/{doomed['clientKey']}", headers=org.auth)
    ).status_code == 200

    refused = await http.post(
        TOKEN, json={"key": doomed["clientKey"], "secret": doomed["clientSecret"]}
    )
    wrong = await http.post(TOKEN, json={"key": alive["clientKey"], "secret": "x" * 40})
    unknown = await http.post(TOKEN, json={"key": "Z" * 25, "secret": doomed["clientSecret"]})
    assert refused.status_code == wrong.status_code == unknown.status_code == 401
    assert refused.json() == wrong.json() == unknown.json()
    assert refused.json()["data"] is None
    assert await mint(http, alive["clientKey"], alive["clientSecret"])

"""Client names are unique among an org's valid clients, and free again once a client is deleted."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.api import OrgFixture, client_body, create_client

CLIENTS = "/v3/integrations/clients"


async def everything(http: httpx.AsyncClient, org: OrgFixture) -> list[dict[str, Any]]:
    response = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def assert_name_taken(response: httpx.Response) -> None:
    assert response.status_code == 409, response.text
    payload = response.json()
    assert payload["data"] is None
    assert payload["errors"][0]["code"] == 4091
    assert payload["errors"][0]["field"] == "name"


async def test_duplicate_name_is_refused(http: httpx.AsyncClient, org: OrgFixture) -> None:
    await create_client(http, org, name="twin")
    before = await everything(http, org)
    assert_name_taken(
        await http.post(CLIENTS, json=client_body(org, name="twin"), headers=org.auth)
    )
    assert await everything(http, org) == before


async def test_name_is_reusable_after_delete(http: httpx.AsyncClient, org: OrgFixture) -> None:
    first = await create_client(http, org, name="phoenix")
    deleted = await http.delete(f"{CLIENTS}/{first['clientKey']}", headers=org.auth)
    assert deleted.status_code == 200
    second = await create_client(http, org, name="phoenix")
    assert second["clientKey"] != first["clientKey"]
    names = [(c["name"], c["isValid"]) for c in await everything(http, org)]
    assert names == [("phoenix", False), ("phoenix", True)]
    assert_name_taken(
        await http.post(CLIENTS, json=client_body(org, name="phoenix"), headers=org.auth)
    )


async def test_rename_onto_a_taken_name_is_refused(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    await create_client(http, org, name="alpha")
    beta = await create_client(http, org, name="beta")
    before = await everything(http, org)
    body = client_body(org, name="alpha")
    assert_name_taken(await http.put(f"{CLIENTS}/{beta['clientKey']}", json=body, headers=org.auth))
    assert await everything(http, org) == before
    same = await http.put(
        f"{CLIENTS}/{beta['clientKey']}", json=client_body(org, name="beta"), headers=org.auth
    )
    assert same.status_code == 200, same.text


async def test_names_are_per_org(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    mine = await create_client(http, org, name="shared")
    theirs = await create_client(http, other_org, name="shared")
    assert mine["clientKey"] != theirs["clientKey"]


async def test_rename_onto_a_deleted_clients_name(http: httpx.AsyncClient, org: OrgFixture) -> None:
    old = await create_client(http, org, name="retired")
    assert (await http.delete(f"{CLIENTS}/{old['clientKey']}", headers=org.auth)).status_code == 200
    new = await create_client(http, org, name="fresh")
    body = client_body(org, name="retired")
    response = await http.put(f"{CLIENTS}/{new['clientKey']}", json=body, headers=org.auth)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["name"] == "retired"


async def test_concurrent_duplicate_names(http: httpx.AsyncClient, org: OrgFixture) -> None:
    answers = await asyncio.gather(
        *(
            http.post(CLIENTS, json=client_body(org, name="race"), headers=org.auth)
            for _ in range(6)
        )
    )
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409, 409, 409]
    for response in answers:
        if response.status_code == 409:
            assert_name_taken(response)
    assert [c["name"] for c in await everything(http, org)] == ["race"]

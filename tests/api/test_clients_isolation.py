"""Another org's clients do not exist for you: 404 like an unknown key, never listed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import Login, OrgFixture, client_body, create_client

CLIENTS = "/v3/integrations/clients"
UNKNOWN_KEY = "NoSuchClientKey0000000000"


async def everything(http: httpx.AsyncClient, org: OrgFixture) -> list[dict[str, Any]]:
    response = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def caller(org: OrgFixture, who: str) -> Login:
    return org.admin if who == "admin" else org.tills[0]


async def _attempts(
    http: httpx.AsyncClient, org: OrgFixture, login: Login, key: str
) -> list[httpx.Response]:
    path = f"{CLIENTS}/{key}"
    return [
        await http.get(path, headers=login.headers),
        await http.put(path, json=client_body(org, name="hijack"), headers=login.headers),
        await http.put(path, json=client_body(org), headers=login.headers | {"If-Match": "*"}),
        await http.delete(path, headers=login.headers),
    ]


@pytest.mark.parametrize("who", ["admin", "till"])
async def test_foreign_client_is_not_found(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture, who: str
) -> None:
    foreign = await create_client(http, other_org, name="theirs")
    before = await everything(http, other_org)
    login = caller(org, who)
    foreign_answers = await _attempts(http, org, login, foreign["clientKey"])
    unknown_answers = await _attempts(http, org, login, UNKNOWN_KEY)
    for theirs, nobody in zip(foreign_answers, unknown_answers, strict=True):
        assert theirs.status_code == 404, theirs.text
        assert theirs.json() == nobody.json()
        assert theirs.json()["data"] is None
        assert theirs.json()["errors"][0]["code"] == 4041
        assert "ETag" not in theirs.headers
        assert foreign["name"] not in theirs.text
    assert await everything(http, other_org) == before
    assert await everything(http, org) == []


@pytest.mark.parametrize("who", ["admin", "till"])
async def test_lists_show_only_own_clients(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture, who: str
) -> None:
    mine = await create_client(http, org, name="mine")
    theirs = await create_client(http, other_org, name="theirs")
    gone = await create_client(http, other_org, name="theirs-gone")
    deleted = await http.delete(f"{CLIENTS}/{gone['clientKey']}", headers=other_org.auth)
    assert deleted.status_code == 200
    login = caller(org, who)
    for params in ({}, {"includeInvalid": "true"}):
        response = await http.get(CLIENTS, params=params, headers=login.headers)
        assert response.status_code == 200
        assert [c["clientKey"] for c in response.json()["data"]] == [mine["clientKey"]]
        assert theirs["clientKey"] not in response.text
        assert gone["clientKey"] not in response.text
    own = await everything(http, other_org)
    assert [c["clientKey"] for c in own] == [theirs["clientKey"], gone["clientKey"]]


@pytest.mark.parametrize(
    "suffix", ["%00", "%F0%9F%98%80", "%FF", "x" * 3000], ids=["nul", "emoji", "latin1", "long"]
)
async def test_odd_keys_are_not_found(
    http: httpx.AsyncClient, org: OrgFixture, suffix: str
) -> None:
    created = await create_client(http, org)
    odd = created["clientKey"] + suffix
    expected = (await http.get(f"{CLIENTS}/{UNKNOWN_KEY}", headers=org.auth)).json()
    for response in await _attempts(http, org, org.admin, odd):
        assert response.status_code == 404, response.text
        assert response.json() == expected
    assert [c["isValid"] for c in await everything(http, org)] == [True]

"""The per-org limit of valid clients holds under concurrent creates; deleting frees a place."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from keyloft.storage.store import Database
from tests.support.api import OrgFixture, client_body, make_org

CLIENTS = "/v3/integrations/clients"


async def post(http: httpx.AsyncClient, org: OrgFixture, name: str) -> httpx.Response:
    return await http.post(CLIENTS, json=client_body(org, name=name), headers=org.auth)


def assert_limit_reached(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 409, response.text
    payload = response.json()
    assert payload["data"] is None
    entry: dict[str, Any] = payload["errors"][0]
    assert entry["code"] == 4092
    assert "limit" in entry["message"].lower() or "maximum" in entry["message"].lower()
    assert str(limit) in entry["message"]


async def valid_names(http: httpx.AsyncClient, org: OrgFixture) -> list[str]:
    response = await http.get(CLIENTS, headers=org.auth)
    return [entry["name"] for entry in response.json()["data"]]


async def test_concurrent_creates_stop_at_the_default_limit(
    http: httpx.AsyncClient, database: Database
) -> None:
    busy = await make_org(database, "Busy Org")
    responses = await asyncio.gather(*(post(http, busy, f"rush-{n}") for n in range(30)))
    accepted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(accepted) == 15
    assert len(refused) == 15
    for response in refused:
        assert_limit_reached(response, 15)
    names = await valid_names(http, busy)
    assert sorted(names) == sorted(r.json()["data"]["name"] for r in accepted)
    assert len({r.json()["data"]["clientKey"] for r in accepted}) == 15

    assert_limit_reached(await post(http, busy, "one-more"), 15)
    victim = accepted[0].json()["data"]["clientKey"]
    assert (await http.delete(f"{CLIENTS}/{victim}", headers=busy.auth)).status_code == 200
    assert (await post(http, busy, "one-more")).status_code == 200
    assert_limit_reached(await post(http, busy, "one-too-many"), 15)
    assert len(await valid_names(http, busy)) == 15


async def test_small_limit(http: httpx.AsyncClient, database: Database) -> None:
    small = await make_org(database, "Small Org", max_clients=2)
    first = await post(http, small, "a")
    assert first.status_code == 200
    assert (await post(http, small, "b")).status_code == 200
    assert_limit_reached(await post(http, small, "c"), 2)
    assert await valid_names(http, small) == ["a", "b"]
    key = first.json()["data"]["clientKey"]
    assert (await http.delete(f"{CLIENTS}/{key}", headers=small.auth)).status_code == 200
    assert (await post(http, small, "c")).status_code == 200
    assert_limit_reached(await post(http, small, "d"), 2)
    assert await valid_names(http, small) == ["b", "c"]


async def test_limit_is_per_org(
    http: httpx.AsyncClient, database: Database, org: OrgFixture
) -> None:
    small = await make_org(database, "Tiny Org", max_clients=1)
    assert (await post(http, small, "only")).status_code == 200
    assert_limit_reached(await post(http, small, "second"), 1)
    assert (await post(http, org, "unaffected")).status_code == 200

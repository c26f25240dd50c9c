"""ETag and If-Match: a change based on a stale read is refused (412) and changes nothing."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from tests.support.api import OrgFixture, create_client

CLIENTS = "/v3/integrations/clients"
STRONG = re.compile(r'^"[^"\s]+"$')


def change(org: OrgFixture, ttl: int) -> dict[str, Any]:
    return {
        "expirationTokenTime": ttl,
        "defaultTillId": org.tills[0].id,
        "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
    }


async def read(http: httpx.AsyncClient, org: OrgFixture, key: str) -> tuple[str, Any]:
    response = await http.get(f"{CLIENTS}/{key}", headers=org.auth)
    assert response.status_code == 200
    return response.headers["ETag"], response.json()


def assert_stale(response: httpx.Response) -> None:
    assert response.status_code == 412, response.text
    payload = response.json()
    assert payload["data"] is None
    assert payload["errors"][0]["code"] == 4121


async def put(
    http: httpx.AsyncClient, org: OrgFixture, key: str, ttl: int, if_match: str
) -> httpx.Response:
    headers = org.auth | {"If-Match": if_match}
    return await http.put(f"{CLIENTS}/{key}", json=change(org, ttl), headers=headers)


async def test_responses_carry_an_etag(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await http.post(
        CLIENTS,
        json={
            "name": "tagged",
            "description": "",
            **change(org, 60),
        },
        headers=org.auth,
    )
    assert created.status_code == 200
    key = created.json()["data"]["clientKey"]
    tags = [created.headers["ETag"]]
    tags.append((await read(http, org, key))[0])
    updated = await put(http, org, key, 61, tags[-1])
    assert updated.status_code == 200
    tags.append(updated.headers["ETag"])
    tags.append((await read(http, org, key))[0])
    deleted = await http.delete(f"{CLIENTS}/{key}", headers=org.auth)
    tags.append(deleted.headers["ETag"])
    assert all(STRONG.match(tag) for tag in tags), tags
    assert tags[0] == tags[1]
    assert tags[2] == tags[3]
    assert len({tags[1], tags[2], tags[4]}) == 3


async def test_stale_if_match_is_refused(http: httpx.AsyncClient, org: OrgFixture) -> None:
    key = (await create_client(http, org))["clientKey"]
    stale, _ = await read(http, org, key)
    assert (await put(http, org, key, 100, stale)).status_code == 200
    current, state = await read(http, org, key)
    assert current != stale

    assert_stale(await put(http, org, key, 200, stale))
    assert_stale(await http.delete(f"{CLIENTS}/{key}", headers=org.auth | {"If-Match": stale}))
    assert_stale(await put(http, org, key, 200, f"W/{current}"))
    assert_stale(await put(http, org, key, 200, '"not-a-tag"'))
    assert await read(http, org, key) == (current, state)
    assert state["data"]["expirationTokenTime"] == 100

    accepted = await put(http, org, key, 300, current)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["data"]["expirationTokenTime"] == 300


async def test_if_match_list_and_star(http: httpx.AsyncClient, org: OrgFixture) -> None:
    key = (await create_client(http, org))["clientKey"]
    current, _ = await read(http, org, key)
    listed = await put(http, org, key, 400, f'"old-1", {current}')
    assert listed.status_code == 200, listed.text
    star = await put(http, org, key, 500, "*")
    assert star.status_code == 200, star.text
    assert star.json()["data"]["expirationTokenTime"] == 500
    latest, _ = await read(http, org, key)
    deleted = await http.delete(f"{CLIENTS}/{key}", headers=org.auth | {"If-Match": latest})
    assert deleted.status_code == 200
    assert deleted.json()["data"]["isValid"] is False


async def test_two_puts_with_one_etag(http: httpx.AsyncClient, org: OrgFixture) -> None:
    key = (await create_client(http, org))["clientKey"]
    tag, _ = await read(http, org, key)
    first = await put(http, org, key, 111, tag)
    second = await put(http, org, key, 222, tag)
    assert first.status_code == 200
    assert_stale(second)
    assert (await read(http, org, key))[1]["data"]["expirationTokenTime"] == 111


async def test_concurrent_puts_with_one_etag(http: httpx.AsyncClient, org: OrgFixture) -> None:
    key = (await create_client(http, org))["clientKey"]
    tag, _ = await read(http, org, key)
    answers = await asyncio.gather(*(put(http, org, key, ttl, tag) for ttl in (700, 800)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 412]
    winner = next(r for r in answers if r.status_code == 200)
    loser = next(r for r in answers if r.status_code == 412)
    assert_stale(loser)
    _, state = await read(http, org, key)
    assert state["data"] == winner.json()["data"]

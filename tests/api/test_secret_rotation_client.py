"""Client secret rotation: POST /clients/{key}/secret returns a new secret once, the replaced
one keeps working for ``graceSeconds`` (on both token endpoints), at most two are live, and
DELETE /clients/{key}/secret/previous ends the grace early."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from keyloft.runtime import Runtime
from tests.support.api import OrgFixture, create_client
from tests.unit.fakes import FakeClock

CLIENTS = "/v3/integrations/clients"
WEEK = 7 * 24 * 3600

Accepts = Callable[[httpx.AsyncClient, str, str], Awaitable[bool]]


async def v3_accepts(http: httpx.AsyncClient, key: str, secret: str) -> bool:
    answer = await http.post("/v3/oauth/token/generate", json={"key": key, "secret": secret})
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 200


async def oauth_accepts(http: httpx.AsyncClient, key: str, secret: str) -> bool:
    raw = base64.b64encode(f"{key}:{secret}".encode()).decode()
    answer = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {raw}"},
    )
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 200


ENDPOINTS = [pytest.param(v3_accepts, id="v3"), pytest.param(oauth_accepts, id="oauth2")]


async def rotate(
    http: httpx.AsyncClient, org: OrgFixture, key: str, body: Any = None, **headers: str
) -> httpx.Response:
    return await http.post(
        f"{CLIENTS}/{key}/secret", json={} if body is None else body, headers=org.auth | headers
    )


async def rotated(
    http: httpx.AsyncClient, org: OrgFixture, key: str, grace: int | None = None
) -> dict[str, Any]:
    answer = await rotate(http, org, key, {} if grace is None else {"graceSeconds": grace})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


async def end_grace(
    http: httpx.AsyncClient, org: OrgFixture, key: str, **headers: str
) -> httpx.Response:
    return await http.delete(f"{CLIENTS}/{key}/secret/previous", headers=org.auth | headers)


@pytest.mark.parametrize("accepts", ENDPOINTS)
async def test_the_old_secret_works_until_the_grace_ends(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock, accepts: Accepts
) -> None:
    client = await create_client(http, org)
    key, old = client["clientKey"], client["clientSecret"]
    new = (await rotated(http, org, key, 300))["clientSecret"]
    assert new != old
    assert await accepts(http, key, new)
    assert await accepts(http, key, old)
    clock.advance(299)
    assert await accepts(http, key, old)
    clock.advance(1)
    assert not await accepts(http, key, old)
    assert await accepts(http, key, new)


@pytest.mark.parametrize("accepts", ENDPOINTS)
@pytest.mark.parametrize("body", [{}, {"graceSeconds": 0}], ids=["default", "zero"])
async def test_without_grace_the_old_secret_stops_at_once(
    http: httpx.AsyncClient,
    org: OrgFixture,
    clock: FakeClock,
    accepts: Accepts,
    body: dict[str, Any],
) -> None:
    client = await create_client(http, org)
    key, old = client["clientKey"], client["clientSecret"]
    answer = await rotate(http, org, key, body)
    assert answer.status_code == 200, answer.text
    assert not await accepts(http, key, old)
    assert await accepts(http, key, answer.json()["data"]["clientSecret"])


async def test_the_answer_is_the_client_with_its_new_secret(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock
) -> None:
    client = await create_client(http, org)
    key = client["clientKey"]
    before = await http.get(f"{CLIENTS}/{key}", headers=org.auth)
    clock.advance(60)
    answer = await rotate(
        http, org, key, {"graceSeconds": 60}, **{"If-Match": before.headers["ETag"]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["etag"] != before.headers["etag"]
    data = answer.json()["data"]
    assert len(data["clientSecret"]) == len(client["clientSecret"])
    assert data["scopes"] == client["scopes"]
    assert data["attribution"]["lastUpdatedOn"] != client["attribution"]["lastUpdatedOn"]
    assert data["attribution"]["lastUpdatedBy"]["code"] == org.admin.code
    after = await http.get(f"{CLIENTS}/{key}", headers=org.auth)
    assert after.headers["etag"] == answer.headers["etag"]
    assert "clientSecret" not in after.json()["data"]


@pytest.mark.parametrize("accepts", ENDPOINTS)
async def test_ending_the_grace_refuses_the_old_secret(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock, accepts: Accepts
) -> None:
    client = await create_client(http, org)
    key, old = client["clientKey"], client["clientSecret"]
    new = (await rotated(http, org, key, WEEK))["clientSecret"]
    assert await accepts(http, key, old)
    ended = await end_grace(http, org, key)
    assert ended.status_code == 200, ended.text
    assert "clientSecret" not in ended.json()["data"]
    assert not await accepts(http, key, old)
    assert await accepts(http, key, new)
    again = await end_grace(http, org, key)  # nothing left to end: unchanged
    assert again.status_code == 200, again.text
    assert again.headers["etag"] == ended.headers["etag"]


async def test_ending_the_grace_moves_version_and_attribution(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock
) -> None:
    client = await create_client(http, org)
    key = client["clientKey"]
    rotation = await rotate(http, org, key, {"graceSeconds": 600})
    clock.advance(5)
    stale = await end_grace(http, org, key, **{"If-Match": '"1"'})
    assert stale.status_code == 412, stale.text
    assert stale.json()["errors"][0]["code"] == 4121
    ended = await end_grace(http, org, key, **{"If-Match": rotation.headers["etag"]})
    assert ended.status_code == 200, ended.text
    assert ended.headers["etag"] != rotation.headers["etag"]
    updated = ended.json()["data"]["attribution"]["lastUpdatedOn"]
    assert updated != rotation.json()["data"]["attribution"]["lastUpdatedOn"]


@pytest.mark.parametrize("accepts", ENDPOINTS)
async def test_at_most_two_secrets_are_live(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock, accepts: Accepts
) -> None:
    client = await create_client(http, org)
    key, first = client["clientKey"], client["clientSecret"]
    second = (await rotated(http, org, key, WEEK))["clientSecret"]
    third = (await rotated(http, org, key, WEEK))["clientSecret"]
    assert not await accepts(http, key, first)
    assert await accepts(http, key, second)
    assert await accepts(http, key, third)


@pytest.mark.parametrize(
    "grace",
    [-1, WEEK + 1, "60", 1.5, True, None],
    ids=["negative", "above", "string", "float", "bool", "null"],
)
async def test_grace_must_be_seconds_up_to_a_week(
    http: httpx.AsyncClient, org: OrgFixture, grace: Any
) -> None:
    client = await create_client(http, org)
    answer = await rotate(http, org, client["clientKey"], {"graceSeconds": grace})
    assert answer.status_code == 400, answer.text
    error = answer.json()["errors"][0]
    assert (error["code"], error["field"]) == (1001, "graceSeconds")
    assert await v3_accepts(http, client["clientKey"], client["clientSecret"])


async def test_a_week_of_grace_is_allowed(http: httpx.AsyncClient, org: OrgFixture) -> None:
    client = await create_client(http, org)
    assert (await rotate(http, org, client["clientKey"], {"graceSeconds": WEEK})).status_code == 200


async def test_deleted_clients_are_refused(http: httpx.AsyncClient, org: OrgFixture) -> None:
    client = await create_client(http, org)
    key = client["clientKey"]
    assert (await http.delete(f"{CLIENTS}/{key}", headers=org.auth)).status_code == 200
    for answer in (await rotate(http, org, key), await end_grace(http, org, key)):
        assert answer.status_code == 409, answer.text
        assert answer.json()["errors"][0]["code"] == 4093
    assert not await v3_accepts(http, key, client["clientSecret"])


async def test_another_orgs_client_is_not_found(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    client = await create_client(http, org)
    key = client["clientKey"]
    for answer in (await rotate(http, other_org, key), await end_grace(http, other_org, key)):
        assert answer.status_code == 404, answer.text
        assert answer.json()["errors"][0]["code"] == 4041
    assert await v3_accepts(http, key, client["clientSecret"])


async def test_if_match_must_match(http: httpx.AsyncClient, org: OrgFixture) -> None:
    client = await create_client(http, org)
    key = client["clientKey"]
    answer = await rotate(http, org, key, **{"If-Match": '"999"'})
    assert answer.status_code == 412, answer.text
    assert answer.json()["errors"][0]["code"] == 4121
    assert await v3_accepts(http, key, client["clientSecret"])


async def test_a_token_rotates_only_clients_its_grants_cover(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    everything = [{"entityId": 2, "permission": "READWRITE", "resources": []}]
    caller = await create_client(http, org, name="caller", scopes=everything)
    answer = await http.post(
        "/v3/oauth/token/generate",
        json={"key": caller["clientKey"], "secret": caller["clientSecret"]},
    )
    bearer = {"Authorization": f"Bearer {answer.json()['data']['accessToken']}"}
    wider = await create_client(http, org, name="wider")  # also holds TargetGroups
    narrow = await create_client(http, org, name="narrow", scopes=everything)
    refused = await http.post(f"{CLIENTS}/{wider['clientKey']}/secret", json={}, headers=bearer)
    assert refused.status_code == 403, refused.text
    assert await v3_accepts(http, wider["clientKey"], wider["clientSecret"])
    allowed = await http.post(f"{CLIENTS}/{narrow['clientKey']}/secret", json={}, headers=bearer)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["data"]["attribution"]["lastUpdatedBy"]["id"] == org.tills[0].id
    ended = await http.delete(f"{CLIENTS}/{wider['clientKey']}/secret/previous", headers=bearer)
    assert ended.status_code == 403, ended.text


async def test_a_rehash_never_overwrites_a_rotated_secret(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime
) -> None:
    """A secret re-hashed under a new server secret is stored only while the hash it replaces
    is still current: a rotation that landed meanwhile wins."""
    client = await create_client(http, org)
    key = client["clientKey"]
    new = (await rotated(http, org, key))["clientSecret"]
    stale = runtime.hasher.hash(client["clientSecret"])
    async with runtime.database.unit_of_work(write=True) as store:
        found = await store.clients.credentials(key)
        assert found is not None
        await store.clients.set_secret_hash(
            found[0].id, "kl1$hmac-sha256$" + "1" * 64, replacing=stale
        )
        after = await store.clients.credentials(key)
    assert after is not None
    assert after[1].current == runtime.hasher.hash(new)
    assert await v3_accepts(http, key, new)

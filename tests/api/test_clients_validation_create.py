"""POST /clients refuses every malformed body with a 400 naming the field, a well-formed one the
org's state does not allow with a 409 naming it, and stores nothing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from keyloft.storage.store import Database
from tests.support.api import OrgFixture, client_body, create_client, make_org

CLIENTS = "/v3/integrations/clients"
Body = dict[str, Any]


async def snapshot(http: httpx.AsyncClient, org: OrgFixture) -> list[dict[str, Any]]:
    response = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def assert_rejected(response: httpx.Response, field: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["data"] is None
    assert len(payload["errors"]) == 1
    entry: dict[str, Any] = payload["errors"][0]
    assert isinstance(entry["code"], int)
    assert isinstance(entry["message"], str)
    assert entry["message"]
    assert entry["field"] == field, entry
    return entry


def without(*path: str | int) -> Callable[[Body], Body]:
    def change(body: Body) -> Body:
        target: Any = body
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
        return body

    return change


def setting(value: Any, *path: str | int) -> Callable[[Body], Body]:
    def change(body: Body) -> Body:
        target: Any = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return body

    return change


def scope(**fields: Any) -> Callable[[Body], Body]:
    return setting([{"entityId": 1, "permission": "READ", "resources": []} | fields], "scopes")


CASES: list[tuple[str, Callable[[Body], Body], str]] = [
    ("missing name", without("name"), "name"),
    ("missing description", without("description"), "description"),
    ("missing ttl", without("expirationTokenTime"), "expirationTokenTime"),
    ("missing till", without("defaultTillId"), "defaultTillId"),
    ("missing scopes", without("scopes"), "scopes"),
    ("empty scopes", setting([], "scopes"), "scopes"),
    ("missing entityId", without("scopes", 0, "entityId"), "scopes[0].entityId"),
    ("missing permission", without("scopes", 1, "permission"), "scopes[1].permission"),
    ("missing resources", without("scopes", 0, "resources"), "scopes[0].resources"),
    ("permission ADMIN", setting("ADMIN", "scopes", 0, "permission"), "scopes[0].permission"),
    ("permission lower", setting("read", "scopes", 0, "permission"), "scopes[0].permission"),
    ("duplicate entityId", setting(1, "scopes", 1, "entityId"), "scopes[1].entityId"),
    ("resources string", scope(resources=".*"), "scopes[0].resources"),
    ("resources object", scope(resources={"a": 1}), "scopes[0].resources"),
    ("21 patterns", scope(resources=[f"/p{n}" for n in range(21)]), "scopes[0].resources"),
    ("long pattern", scope(resources=["a" * 513]), "scopes[0].resources[0]"),
    ("unbalanced", scope(resources=["/ok", "(a"]), "scopes[0].resources[1]"),
    ("lookahead", scope(resources=["(?=a)"]), "scopes[0].resources[0]"),
    ("pattern number", scope(resources=[1]), "scopes[0].resources[0]"),
    ("ttl zero", setting(0, "expirationTokenTime"), "expirationTokenTime"),
    ("ttl negative", setting(-5, "expirationTokenTime"), "expirationTokenTime"),
    ("ttl string", setting("600", "expirationTokenTime"), "expirationTokenTime"),
    ("ttl float", setting(600.5, "expirationTokenTime"), "expirationTokenTime"),
    ("ttl boolean", setting(True, "expirationTokenTime"), "expirationTokenTime"),
    ("ttl null", setting(None, "expirationTokenTime"), "expirationTokenTime"),
    ("till string", setting("1", "defaultTillId"), "defaultTillId"),
    ("till negative", setting(-1, "defaultTillId"), "defaultTillId"),
    ("till zero", setting(0, "defaultTillId"), "defaultTillId"),
    ("entityId zero", setting(0, "scopes", 0, "entityId"), "scopes[0].entityId"),
    ("till beyond int64", setting(2**63, "defaultTillId"), "defaultTillId"),
    ("name empty", setting("", "name"), "name"),
    ("name blank", setting("   ", "name"), "name"),
    ("name 101", setting("n" * 101, "name"), "name"),
    ("name number", setting(5, "name"), "name"),
    ("name null", setting(None, "name"), "name"),
    ("description 501", setting("d" * 501, "description"), "description"),
    ("description list", setting(["d"], "description"), "description"),
    ("description NUL", setting("a\u0000b", "description"), "description"),
    ("name NUL", setting("a\u0000b", "name"), "name"),
    ("scopes object", setting({"entityId": 1}, "scopes"), "scopes"),
    ("scope string", setting(["READ"], "scopes"), "scopes[0]"),
    ("entityId string", setting("1", "scopes", 0, "entityId"), "scopes[0].entityId"),
    ("permission number", setting(1, "scopes", 0, "permission"), "scopes[0].permission"),
]


# Well formed (the OpenAPI schema admits them), but not what the org has or allows.
STATE_CASES: list[tuple[str, Callable[[Body], Body], str]] = [
    ("unknown entityId", setting(99, "scopes", 1, "entityId"), "scopes[1].entityId"),
    ("ttl over cap", setting(3601, "expirationTokenTime"), "expirationTokenTime"),
    ("till missing", setting(987654321, "defaultTillId"), "defaultTillId"),
]


@pytest.fixture
async def existing(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    """One client already there, so an unchanged store is not simply an empty one."""
    return await create_client(http, org, name="existing")


REFUSALS = [(*case, 400) for case in CASES] + [(*case, 409) for case in STATE_CASES]


@pytest.mark.parametrize(
    ("change", "field", "status"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
async def test_invalid_create(
    http: httpx.AsyncClient,
    org: OrgFixture,
    existing: dict[str, Any],
    change: Callable[[Body], Body],
    field: str,
    status: int,
) -> None:
    before = await snapshot(http, org)
    body = change(copy.deepcopy(client_body(org)))
    response = await http.post(CLIENTS, json=body, headers=org.auth)
    entry = assert_rejected(response, field, status)
    assert entry["code"] == (1001 if status == 400 else 4094)
    assert await snapshot(http, org) == before


async def test_whole_numbers_written_as_floats_are_integers(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    """JSON Schema counts 600.0 as an integer; so does the API (600.5 stays a 400)."""
    body = client_body(org, name="floats", expirationTokenTime=600.0)
    body["scopes"][0]["entityId"] = float(body["scopes"][0]["entityId"])
    response = await http.post(CLIENTS, json=body, headers=org.auth)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["expirationTokenTime"] == 600
    assert isinstance(response.json()["data"]["expirationTokenTime"], int)


async def test_boundaries_are_accepted(http: httpx.AsyncClient, org: OrgFixture) -> None:
    longest = await create_client(
        http,
        org,
        name="n" * 100,
        description="d" * 500,
        expirationTokenTime=3600,
        scopes=[{"entityId": 3, "permission": "READ", "resources": ["a" * 512]}],
    )
    assert len(longest["name"]) == 100
    assert longest["expirationTokenTime"] == 3600
    shortest = await create_client(http, org, name="n", description="", expirationTokenTime=1)
    assert shortest["expirationTokenTime"] == 1
    lines = await create_client(http, org, name="lines", description="one\ntwo\tthree")
    assert lines["description"] == "one\ntwo\tthree"
    twenty = [f"/p{n}" for n in range(20)]
    many = await create_client(
        http, org, name="many", scopes=[{"entityId": 2, "permission": "READ", "resources": twenty}]
    )
    assert many["scopes"][0]["resources"] == twenty


async def test_ttl_cap_of_the_org(http: httpx.AsyncClient, database: Database) -> None:
    short = await make_org(database, "Short Tokens", max_token_ttl=120)
    before = await snapshot(http, short)
    over = await http.post(
        CLIENTS, json=client_body(short, expirationTokenTime=121), headers=short.auth
    )
    entry = assert_rejected(over, "expirationTokenTime", 409)
    assert "120" in entry["message"]
    assert await snapshot(http, short) == before
    assert (await create_client(http, short, expirationTokenTime=120))["expirationTokenTime"] == 120


async def test_till_must_be_a_till_of_the_org(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture, existing: dict[str, Any]
) -> None:
    before = await snapshot(http, org)
    for till_id in (org.admin.id, other_org.tills[0].id, other_org.admin.id):
        response = await http.post(
            CLIENTS, json=client_body(org, defaultTillId=till_id), headers=org.auth
        )
        assert_rejected(response, "defaultTillId", 409)
    assert await snapshot(http, org) == before
    assert await snapshot(http, other_org) == []


@pytest.mark.parametrize("raw", ["[]", '[{"name": "x"}]', '"a string"', "42", "null"])
async def test_body_not_an_object(
    http: httpx.AsyncClient, org: OrgFixture, existing: dict[str, Any], raw: str
) -> None:
    before = await snapshot(http, org)
    response = await http.post(
        CLIENTS, content=raw, headers=org.auth | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["data"] is None
    assert payload["errors"][0]["code"] == 1001
    assert await snapshot(http, org) == before


async def test_server_chooses_key_id_and_secret(http: httpx.AsyncClient, org: OrgFixture) -> None:
    chosen = {"clientKey": "A" * 25, "id": 424242, "clientSecret": "B" * 40, "isValid": False}
    created = await create_client(http, org, **chosen)
    assert created["clientKey"] != chosen["clientKey"]
    assert created["id"] != chosen["id"]
    assert created["clientSecret"] != chosen["clientSecret"]
    assert created["isValid"] is True
    refused = await http.post(
        "/v3/oauth/token/generate", json={"key": created["clientKey"], "secret": "B" * 40}
    )
    assert refused.status_code == 401
    lookup = await http.get(f"{CLIENTS}/{'A' * 25}", headers=org.auth)
    assert lookup.status_code == 404

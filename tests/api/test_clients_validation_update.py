"""PUT /clients/{key} refuses malformed changes with a 400 naming the field and changes nothing."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.support.api import OrgFixture, create_client

CLIENTS = "/v3/integrations/clients"


def update_body(org: OrgFixture) -> dict[str, Any]:
    return {
        "name": "renamed",
        "description": "changed",
        "expirationTokenTime": 900,
        "defaultTillId": org.tills[1].id,
        "scopes": [{"entityId": 3, "permission": "READ", "resources": []}],
    }


async def state(http: httpx.AsyncClient, org: OrgFixture, key: str) -> tuple[Any, Any]:
    listed = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    detail = await http.get(f"{CLIENTS}/{key}", headers=org.auth)
    assert listed.status_code == detail.status_code == 200
    return listed.json()["data"], (detail.json()["data"], detail.headers["ETag"])


def _drop(body: dict[str, Any], *path: str | int) -> None:
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]


def _set(body: dict[str, Any], value: Any, *path: str | int) -> None:
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


MISSING: list[tuple[tuple[str | int, ...], str]] = [
    (("expirationTokenTime",), "expirationTokenTime"),
    (("defaultTillId",), "defaultTillId"),
    (("scopes",), "scopes"),
    (("scopes", 0, "entityId"), "scopes[0].entityId"),
    (("scopes", 0, "permission"), "scopes[0].permission"),
    (("scopes", 0, "resources"), "scopes[0].resources"),
]

BAD: list[tuple[Any, tuple[str | int, ...], str]] = [
    (0, ("expirationTokenTime",), "expirationTokenTime"),
    (-1, ("expirationTokenTime",), "expirationTokenTime"),
    ("600", ("expirationTokenTime",), "expirationTokenTime"),
    (60.5, ("expirationTokenTime",), "expirationTokenTime"),
    (2**64, ("defaultTillId",), "defaultTillId"),
    ([], ("scopes",), "scopes"),
    ("WRITE ", ("scopes", 0, "permission"), "scopes[0].permission"),
    ("x", ("scopes", 0, "resources"), "scopes[0].resources"),
    (["(a"], ("scopes", 0, "resources"), "scopes[0].resources[0]"),
    (["(?=a)"], ("scopes", 0, "resources"), "scopes[0].resources[0]"),
    (["b" * 513], ("scopes", 0, "resources"), "scopes[0].resources[0]"),
    ([f"/r{n}" for n in range(21)], ("scopes", 0, "resources"), "scopes[0].resources"),
    ("", ("name",), "name"),
    ("  ", ("name",), "name"),
    ("n" * 101, ("name",), "name"),
    (7, ("name",), "name"),
    ("d" * 501, ("description",), "description"),
    (False, ("description",), "description"),
    ("a\u0000b", ("description",), "description"),
]


@pytest.fixture
async def client(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    return await create_client(http, org)


# Well formed, but not what the org has or allows: 409, naming the field.
STATE: list[tuple[Any, tuple[str | int, ...], str]] = [
    (3601, ("expirationTokenTime",), "expirationTokenTime"),
    (987654321, ("defaultTillId",), "defaultTillId"),
    (42, ("scopes", 0, "entityId"), "scopes[0].entityId"),
]


async def _refused(
    http: httpx.AsyncClient,
    org: OrgFixture,
    key: str,
    body: Any,
    field: str | None,
    status: int = 400,
) -> None:
    before = await state(http, org, key)
    response = await http.put(f"{CLIENTS}/{key}", json=body, headers=org.auth)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["data"] is None
    entry = payload["errors"][0]
    assert entry["code"] == (1001 if status == 400 else 4094)
    assert isinstance(entry["message"], str)
    assert entry["message"]
    if field is not None:
        assert entry["field"] == field, entry
    assert await state(http, org, key) == before


@pytest.mark.parametrize(("path", "field"), MISSING, ids=[m[1] for m in MISSING])
async def test_update_missing_mandatory(
    http: httpx.AsyncClient,
    org: OrgFixture,
    client: dict[str, Any],
    path: tuple[str | int, ...],
    field: str,
) -> None:
    body = update_body(org)
    _drop(body, *path)
    await _refused(http, org, client["clientKey"], body, field)


@pytest.mark.parametrize(
    ("value", "path", "field", "status"),
    [(*b, 400) for b in BAD] + [(*b, 409) for b in STATE],
    ids=[f"{b[2]}={str(b[0])[:12]}" for b in (*BAD, *STATE)],
)
async def test_update_bad_value(
    http: httpx.AsyncClient,
    org: OrgFixture,
    client: dict[str, Any],
    value: Any,
    path: tuple[str | int, ...],
    field: str,
    status: int,
) -> None:
    body = copy.deepcopy(update_body(org))
    _set(body, value, *path)
    await _refused(http, org, client["clientKey"], body, field, status)


async def test_update_duplicate_entity(
    http: httpx.AsyncClient, org: OrgFixture, client: dict[str, Any]
) -> None:
    body = update_body(org)
    body["scopes"] = [
        {"entityId": 2, "permission": "READ", "resources": []},
        {"entityId": 2, "permission": "WRITE", "resources": []},
    ]
    await _refused(http, org, client["clientKey"], body, "scopes[1].entityId")


async def test_update_till_of_admin_or_other_org(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture, client: dict[str, Any]
) -> None:
    for till_id in (org.admin.id, other_org.tills[0].id):
        body = update_body(org) | {"defaultTillId": till_id}
        await _refused(http, org, client["clientKey"], body, "defaultTillId", 409)


@pytest.mark.parametrize("body", [[], "renamed", [{"expirationTokenTime": 600}]])
async def test_update_body_not_an_object(
    http: httpx.AsyncClient, org: OrgFixture, client: dict[str, Any], body: Any
) -> None:
    await _refused(http, org, client["clientKey"], body, None)

"""Odd bodies against POST and PUT: never a 5xx, always the envelope, nothing changed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.api import BASE_URL, OrgFixture, client_body, create_client

CLIENTS = "/v3/integrations/clients"


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"scopes": [value]}
    return value


def odd_bodies(org: OrgFixture) -> list[Any]:
    valid = client_body(org)
    scope = valid["scopes"][0]
    return [
        None,
        0,
        -1,
        10**30,
        1.5,
        True,
        "",
        "client",
        [],
        [[]],
        [[[[[]]]]],
        [valid],
        {},
        {"": None},
        {"name": None},
        {k: None for k in valid},
        {**valid, "scopes": None},
        {**valid, "scopes": []},
        {**valid, "scopes": [[]]},
        {**valid, "scopes": [[scope]]},
        {**valid, "scopes": [None]},
        {**valid, "scopes": {"0": scope}},
        {**valid, "scopes": [{**scope, "entityId": 10**30}]},
        {**valid, "scopes": [{**scope, "entityId": -(10**30)}]},
        {**valid, "scopes": [{**scope, "entityId": "1"}]},
        {**valid, "scopes": [{**scope, "permission": "readwrite"}]},
        {**valid, "scopes": [{**scope, "permission": None}]},
        {**valid, "scopes": [{**scope, "resources": "(a+)+$"}]},
        {**valid, "scopes": [{**scope, "resources": [None]}]},
        {**valid, "scopes": [{**scope, "resources": ["(unclosed"]}]},
        {**valid, "scopes": [{**scope, "resources": [["nested"]]}]},
        {**valid, "scopes": [scope, scope]},
        {**valid, "expirationTokenTime": 10**30},
        {**valid, "expirationTokenTime": -(10**30)},
        {**valid, "expirationTokenTime": "600"},
        {**valid, "expirationTokenTime": 600.5},
        {**valid, "expirationTokenTime": 0},
        {**valid, "defaultTillId": "1"},
        {**valid, "defaultTillId": None},
        {**valid, "defaultTillId": -1},
        {**valid, "name": ""},
        {**valid, "name": " \t "},
        {**valid, "name": "\u0000\u202e"},
        {**valid, "name": "x" * 101},
        {**valid, "name": 12},
        {**valid, "name": ["a"]},
        {**valid, "description": "d" * 501},
        {**valid, "description": {"nested": deep(5)}},
        deep(200),
        {**valid, "scopes": [deep(50)]},
    ]


@pytest.fixture
async def lenient(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``http``, but an exception escaping the app shows as the 500 a server would send."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


def assert_error_envelope(response: httpx.Response, body: Any) -> None:
    assert response.status_code < 500, (body, response.text)
    assert response.status_code >= 400, (body, response.text)
    envelope = response.json()
    assert set(envelope) == {"data", "errors"}
    assert envelope["data"] is None
    assert envelope["errors"], body
    for error in envelope["errors"]:
        assert isinstance(error["code"], int)
        assert isinstance(error["message"], str)
        assert error["message"]


async def snapshot(http: httpx.AsyncClient, org: OrgFixture) -> Any:
    response = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    assert response.status_code == 200
    return response.json()["data"]


async def test_odd_bodies_create_nothing(lenient: httpx.AsyncClient, org: OrgFixture) -> None:
    existing = await create_client(lenient, org, name="existing")
    before = await snapshot(lenient, org)
    bodies = odd_bodies(org)
    assert len(bodies) >= 40
    for body in bodies:
        response = await lenient.post(
            CLIENTS,
            content=json.dumps(body).encode(),
            headers={**org.auth, "Content-Type": "application/json"},
        )
        assert_error_envelope(response, body)
    assert await snapshot(lenient, org) == before
    assert [client["clientKey"] for client in before] == [existing["clientKey"]]


async def test_odd_bodies_change_nothing(lenient: httpx.AsyncClient, org: OrgFixture) -> None:
    existing = await create_client(lenient, org, name="existing")
    url = f"{CLIENTS}/{existing['clientKey']}"
    before = (await lenient.get(url, headers=org.auth)).json()
    for body in odd_bodies(org):
        response = await lenient.put(
            url,
            content=json.dumps(body).encode(),
            headers={**org.auth, "Content-Type": "application/json"},
        )
        assert_error_envelope(response, body)
    after = (await lenient.get(url, headers=org.auth)).json()
    assert after == before


async def test_huge_default_till_id_is_400(lenient: httpx.AsyncClient, org: OrgFixture) -> None:
    response = await lenient.post(
        CLIENTS, json=client_body(org, defaultTillId=10**30), headers=org.auth
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0].get("field") == "defaultTillId"
    assert await snapshot(lenient, org) == []

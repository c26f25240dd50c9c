"""The audit trail: every client change is recorded with its actor, diff and request, never a
secret; listed newest first, filtered, paginated, and sealed to the caller's org."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.api import OPERATOR, OrgFixture, create_client

AUDIT = "/v3/integrations/audit"


async def trail(http: httpx.AsyncClient, org: OrgFixture, **params: Any) -> dict[str, Any]:
    answer = await http.get(AUDIT, params=params, headers=org.auth)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


async def test_create_update_delete_rotate_are_recorded(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(http, org)
    key = created["clientKey"]
    till = org.tills[1]
    updated = await http.put(
        f"/v3/integrations/clients/{key}",
        json={
            "description": "changed",
            "expirationTokenTime": 900,
            "defaultTillId": org.tills[0].id,
            "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
        },
        headers={**till.headers, "X-Request-ID": "req-update-1"},
    )
    assert updated.status_code == 200
    rotated = await http.post(
        f"/v3/integrations/clients/{key}/secret", json={"graceSeconds": 60}, headers=org.auth
    )
    assert rotated.status_code == 200
    assert (
        await http.delete(f"/v3/integrations/clients/{key}", headers=org.auth)
    ).status_code == 200

    events = (await trail(http, org, clientKey=key))["events"]
    assert [e["action"] for e in events] == [
        "client.delete",
        "client.secret.rotate",
        "client.update",
        "client.create",
    ]
    assert all(e["target"] == {"type": "client", "key": key} for e in events)
    delete, rotate, update, create = events
    assert create["changes"]["name"] == [None, "integration-1"]
    assert create["actor"]["code"] == org.admin.code
    assert update["actor"] == {
        "id": till.id,
        "code": till.code,
        "description": "",
        "name": "Acme Till 2",
        "type": "TILL",
    }
    assert update["requestId"] == "req-update-1"
    assert update["sourceIp"]
    assert update["changes"]["description"] == ["Sample description", "changed"]
    assert update["changes"]["expirationTokenTime"] == [600, 900]
    assert "name" not in update["changes"]  # unchanged fields are not listed
    assert rotate["changes"] == {"previousSecretGraceSeconds": [None, 60]}
    assert delete["changes"] == {"isValid": [True, False]}
    assert update["at"].endswith("+0530")
    text = json.dumps(events)
    assert created["clientSecret"] not in text
    assert rotated.json()["data"]["clientSecret"] not in text
    assert "kl1$" not in text


async def test_filters_and_pagination(http: httpx.AsyncClient, org: OrgFixture) -> None:
    first = await create_client(http, org, name="first")
    await create_client(http, org, name="second")
    await create_client(http, org, name="third")
    only = (await trail(http, org, clientKey=first["clientKey"]))["events"]
    assert [e["target"]["key"] for e in only] == [first["clientKey"]]
    assert (await trail(http, org, action="client.delete"))["events"] == []
    by_actor = await trail(http, org, actor=org.admin.code)
    assert len(by_actor["events"]) == 3

    page_one = await trail(http, org, actor=org.admin.code, limit=2)
    assert len(page_one["events"]) == 2
    assert page_one["nextCursor"]
    page_two = await trail(http, org, actor=org.admin.code, limit=2, cursor=page_one["nextCursor"])
    assert len(page_two["events"]) == 1
    assert page_two["nextCursor"] is None
    ids = [e["id"] for e in page_one["events"] + page_two["events"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 3


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": 0}, id="limit-zero"),
        pytest.param({"limit": 101}, id="limit-too-big"),
        pytest.param({"cursor": "not-a-cursor"}, id="bad-cursor"),
        pytest.param({"from": "yesterday"}, id="bad-date"),
        pytest.param(
            {"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, id="reversed-range"
        ),
    ],
)
async def test_bad_queries_are_400(
    http: httpx.AsyncClient, org: OrgFixture, params: dict[str, Any]
) -> None:
    answer = await http.get(AUDIT, params=params, headers=org.auth)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["code"] == 1001


async def test_sealed_to_the_callers_org(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    mine = await create_client(http, org)
    await create_client(http, other_org, name="theirs")
    theirs = (await trail(http, other_org))["events"]
    assert [e["target"]["key"] for e in theirs] != [mine["clientKey"]]
    assert (await trail(http, other_org, clientKey=mine["clientKey"]))["events"] == []


async def test_a_failed_change_leaves_no_event(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    stale = await http.put(
        f"/v3/integrations/clients/{created['clientKey']}",
        json={"expirationTokenTime": 0, "defaultTillId": org.tills[0].id, "scopes": []},
        headers=org.auth,
    )
    assert stale.status_code == 400
    events = (await trail(http, org, clientKey=created["clientKey"]))["events"]
    assert [e["action"] for e in events] == ["client.create"]


async def test_operator_changes_to_the_org_are_in_its_trail(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    """The org, its admin, Tills and scope entities were made by an operator (see conftest):
    each is an event of the org's, attributed to the operator, without any password."""
    events = (await trail(http, org, actor=OPERATOR.name))["events"]
    actions = sorted(e["action"] for e in events)
    assert actions == ["admin.create", "org.create", "till.create", "till.create"]
    for event in events:
        assert event["actor"] == {
            "id": None,
            "code": OPERATOR.name,
            "description": "",
            "name": OPERATOR.name,
            "type": "OPERATOR",
        }
        assert event["requestId"] == OPERATOR.context.request_id
    admin = next(e for e in events if e["action"] == "admin.create")
    assert admin["target"] == {"type": "admin", "key": org.admin.code}
    assert admin["changes"]["code"] == [None, org.admin.code]
    made = next(e for e in events if e["action"] == "org.create")
    assert made["changes"]["name"] == [None, "Acme"]
    assert made["changes"]["scopes"] == [None, ["TargetGroups", "All", "Transaction"]]
    text = json.dumps(events)
    assert org.admin.password not in text
    assert all(till.password not in text for till in org.tills)
    # Another org's operator events, and deployment-wide ones, are not this org's.
    mine = {e["target"]["key"] for e in events}
    theirs = (await trail(http, other_org, actor=OPERATOR.name))["events"]
    assert {e["target"]["key"] for e in theirs}.isdisjoint({org.admin.code})
    assert not any(e["target"]["type"] == "signing_key" for e in events + theirs)
    assert org.admin.code in mine

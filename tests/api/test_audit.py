"""The audit trail: every client change is recorded with its actor, diff and request, never a
secret; listed newest first, filtered, paginated, and sealed to the caller's org."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from keyloft.services.cursor import AUDIT_CURSOR, cursor_pattern
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
    ("params", "field"),
    [
        pytest.param({"limit": 0}, "limit", id="limit-zero"),
        pytest.param({"limit": 101}, "limit", id="limit-too-big"),
        pytest.param({"cursor": "not-a-cursor"}, "cursor", id="bad-cursor"),
        pytest.param({"cursor": ""}, "cursor", id="empty-cursor"),
        pytest.param({"cursor": "w1.5"}, "cursor", id="a-delivery-cursor"),
        pytest.param({"cursor": "c1.5"}, "cursor", id="a-client-cursor"),
        pytest.param({"cursor": "a1.0"}, "cursor", id="no-row-zero"),
        pytest.param({"cursor": "a1." + "9" * 19}, "cursor", id="cursor-beyond-18-digits"),
        pytest.param({"from": "yesterday"}, "from", id="bad-date"),
        pytest.param({"from": "2030-01-02"}, "from", id="a-date-is-not-a-date-time"),
        pytest.param({"to": "2030-01-02T00:00:00"}, "to", id="no-offset"),
        pytest.param({"to": "1700000000"}, "to", id="epoch-seconds"),
        pytest.param(
            {"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"},
            "from",
            id="reversed-range",
        ),
        pytest.param(
            {"from": "2030-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "from", id="empty-range"
        ),
        pytest.param({"clientKey": "k" * 65}, "clientKey", id="client-key-too-long"),
    ],
)
async def test_bad_queries_are_400_naming_the_field(
    http: httpx.AsyncClient, org: OrgFixture, params: dict[str, Any], field: str
) -> None:
    answer = await http.get(AUDIT, params=params, headers=org.auth)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["data"] is None
    assert body["errors"][0]["code"] == 1001
    assert body["errors"][0]["field"] == field


async def test_a_well_formed_cursor_pages_even_if_never_issued(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    everything = (await trail(http, org))["events"]
    assert everything
    highest = "a1." + "9" * 18
    assert (await trail(http, org, cursor=highest))["events"] == everything
    newest = everything[0]["id"]
    older = (await trail(http, org, cursor=f"a1.{newest}"))["events"]
    assert [e["id"] for e in older] == [e["id"] for e in everything[1:]]
    assert (await trail(http, org, cursor="a1.1"))["events"] == []


@pytest.mark.parametrize(
    ("since", "until", "found"),
    [
        # Every RFC 3339 date-time: the earliest and latest there are, any offset.
        ("0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999-23:59", True),
        ("0001-01-01T00:00:00+23:59", None, True),
        (None, "0001-01-01T00:00:00+23:59", False),
        ("9999-12-31T23:59:59-00:01", None, False),
        ("1990-01-01t00:00:00.123456789z", "2999-12-31T23:59:60+00:00", True),
    ],
)
async def test_every_rfc_3339_date_time_is_accepted(
    http: httpx.AsyncClient, org: OrgFixture, since: str | None, until: str | None, found: bool
) -> None:
    params = {name: value for name, value in (("from", since), ("to", until)) if value}
    events = (await trail(http, org, **params))["events"]
    assert bool(events) is found


async def test_the_document_states_what_is_enforced(http: httpx.AsyncClient) -> None:
    operation = (await http.get("/openapi.json")).json()["paths"][AUDIT]["get"]
    schemas = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert (schemas["limit"]["minimum"], schemas["limit"]["maximum"]) == (1, 100)
    assert schemas["cursor"]["pattern"] == cursor_pattern(AUDIT_CURSOR)
    assert schemas["cursor"]["maxLength"] == 21
    assert schemas["from"]["format"] == schemas["to"]["format"] == "date-time"
    assert schemas["clientKey"] == {"type": "string", "maxLength": 64, "title": "Clientkey"}
    assert schemas["actor"]["maxLength"] == 100
    assert operation["x-keyloft-query-rules"] == [
        {"rule": "before", "earlier": "from", "later": "to"}
    ]
    assert sorted(operation["responses"]) == ["200", "400", "401", "403", "429", "503"]
    assert operation["responses"]["401"]["headers"]["WWW-Authenticate"]


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

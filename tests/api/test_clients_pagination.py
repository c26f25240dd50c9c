"""GET /v3/integrations/clients: the original whole-list answer, and with limit/cursor one
page at a time (creation order, a cursor in the envelope and a Link header); name filtering."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import OrgFixture, create_client

CLIENTS = "/v3/integrations/clients"


async def listing(http: httpx.AsyncClient, org: OrgFixture, **params: Any) -> httpx.Response:
    answer = await http.get(CLIENTS, params=params, headers=org.auth)
    assert answer.status_code == 200, answer.text
    return answer


@pytest.fixture
async def five(http: httpx.AsyncClient, org: OrgFixture) -> list[dict[str, Any]]:
    names = ["Orders sync", "orders-export", "Loyalty", "Coupons 100%", "Coupons_x"]
    return [await create_client(http, org, name=name) for name in names]


async def test_without_paging_the_answer_is_the_original_list(
    http: httpx.AsyncClient, org: OrgFixture, five: list[dict[str, Any]]
) -> None:
    body = (await listing(http, org)).json()
    assert set(body) == {"data", "errors"}
    assert [c["clientKey"] for c in body["data"]] == [c["clientKey"] for c in five]


async def test_pages_walk_every_client_once_in_creation_order(
    http: httpx.AsyncClient, org: OrgFixture, five: list[dict[str, Any]]
) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    pages = 0
    while True:
        answer = await listing(http, org, **params)
        body = answer.json()
        pages += 1
        assert len(body["data"]) <= 2
        seen += [c["clientKey"] for c in body["data"]]
        following = body["page"]["nextCursor"]
        assert body["page"]["limit"] == 2
        if following is None:
            assert "Link" not in answer.headers
            break
        link = answer.headers["Link"]
        assert link.endswith('; rel="next"')
        assert f"cursor={following}" in link
        assert "limit=2" in link
        params = {"limit": 2, "cursor": following}
    assert pages == 3
    assert seen == [c["clientKey"] for c in five]


async def test_a_cursor_alone_pages_with_the_default_size(
    http: httpx.AsyncClient, org: OrgFixture, five: list[dict[str, Any]]
) -> None:
    first = (await listing(http, org, limit=1)).json()
    rest = (await listing(http, org, cursor=first["page"]["nextCursor"])).json()
    assert rest["page"] == {"nextCursor": None, "limit": 50}
    assert [c["clientKey"] for c in rest["data"]] == [c["clientKey"] for c in five[1:]]


@pytest.mark.parametrize(
    ("needle", "expected"),
    [
        pytest.param("orders", ["Orders sync", "orders-export"], id="any-case"),
        pytest.param("%", ["Coupons 100%"], id="percent-is-literal"),
        pytest.param("_", ["Coupons_x"], id="underscore-is-literal"),
        pytest.param("nothing like it", [], id="no-match"),
    ],
)
async def test_name_filter(
    http: httpx.AsyncClient,
    org: OrgFixture,
    five: list[dict[str, Any]],
    needle: str,
    expected: list[str],
) -> None:
    body = (await listing(http, org, name=needle)).json()
    assert "page" not in body
    assert [c["name"] for c in body["data"]] == expected


async def test_name_filter_pages_and_deleted_clients_on_demand(
    http: httpx.AsyncClient, org: OrgFixture, five: list[dict[str, Any]]
) -> None:
    gone = five[0]["clientKey"]
    deleted = await http.delete(f"{CLIENTS}/{gone}", headers=org.auth)
    assert deleted.status_code == 200
    live = (await listing(http, org, name="ORDERS", limit=1)).json()
    assert [c["name"] for c in live["data"]] == ["orders-export"]
    assert live["page"]["nextCursor"] is None
    both = (await listing(http, org, name="orders", includeInvalid="true", limit=1)).json()
    assert [c["clientKey"] for c in both["data"]] == [gone]
    more = await listing(
        http, org, name="orders", includeInvalid="true", limit=1, cursor=both["page"]["nextCursor"]
    )
    assert [c["name"] for c in more.json()["data"]] == ["orders-export"]


async def test_pages_are_sealed_to_the_callers_org(
    http: httpx.AsyncClient,
    org: OrgFixture,
    other_org: OrgFixture,
    five: list[dict[str, Any]],
) -> None:
    theirs = await create_client(http, other_org, name="Orders elsewhere")
    # A cursor from this org's listing used by the other org shows only the other org's.
    cursor = (await listing(http, org, limit=1)).json()["page"]["nextCursor"]
    body = (await listing(http, other_org, cursor=cursor, name="orders")).json()
    assert [c["clientKey"] for c in body["data"]] == [theirs["clientKey"]]
    mine = (await listing(http, org, name="elsewhere")).json()
    assert mine["data"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"limit": 0}, "limit", id="limit-zero"),
        pytest.param({"limit": 201}, "limit", id="limit-too-big"),
        pytest.param({"limit": "ten"}, "limit", id="limit-not-a-number"),
        pytest.param({"cursor": "bm90LWEtY3Vyc29y"}, "cursor", id="foreign-cursor"),
        pytest.param({"cursor": "!!"}, "cursor", id="garbage-cursor"),
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({"name": "x" * 101}, "name", id="long-name"),
    ],
)
async def test_bad_paging_is_a_400_naming_the_field(
    http: httpx.AsyncClient, org: OrgFixture, params: dict[str, Any], field: str
) -> None:
    answer = await http.get(CLIENTS, params=params, headers=org.auth)
    assert answer.status_code == 400, answer.text
    error = answer.json()["errors"][0]
    assert error["code"] == 1001
    assert error["field"] == field


async def test_an_audit_cursor_is_not_a_client_cursor(
    http: httpx.AsyncClient, org: OrgFixture, five: list[dict[str, Any]]
) -> None:
    trail = await http.get("/v3/integrations/audit", params={"limit": 1}, headers=org.auth)
    cursor = trail.json()["data"]["nextCursor"]
    assert cursor
    answer = await http.get(CLIENTS, params={"cursor": cursor}, headers=org.auth)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "cursor"

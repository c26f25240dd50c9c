"""What a token may call: READ, WRITE and READWRITE on entity 2, and resource patterns."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import OrgFixture, client_body, create_client, mint

CLIENTS = "/v3/integrations/clients"
SCOPES = "/v3/integrations/scopes"
DENIED = {"data": None, "errors": [{"code": 4000, "message": "Not authorized. Access is denied!"}]}


async def token_for(
    http: httpx.AsyncClient, org: OrgFixture, scopes: list[dict[str, Any]], name: str = "caller"
) -> tuple[dict[str, Any], dict[str, str]]:
    created = await create_client(http, org, name=name, scopes=scopes)
    token = await mint(http, created["clientKey"], created["clientSecret"])
    return created, {"X-CAP-API-OAUTH-TOKEN": token}


def all_(permission: str, resources: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"entityId": 2, "permission": permission, "resources": resources or []}]


def update_body(org: OrgFixture, created: dict[str, Any]) -> dict[str, Any]:
    return {
        "expirationTokenTime": created["expirationTokenTime"],
        "defaultTillId": org.tills[0].id,
        "scopes": created["scopes"],
    }


def assert_denied(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == DENIED


async def test_read_can_get_but_not_change(http: httpx.AsyncClient, org: OrgFixture) -> None:
    target = await create_client(http, org, name="target", scopes=all_("READ"))
    caller, headers = await token_for(http, org, all_("READ"))

    listed = await http.get(CLIENTS, headers=headers)
    assert listed.status_code == 200, listed.text
    assert {c["clientKey"] for c in listed.json()["data"]} == {
        target["clientKey"],
        caller["clientKey"],
    }
    assert (await http.get(SCOPES, headers=headers)).status_code == 200
    one = await http.get(f"{CLIENTS}/{target['clientKey']}", headers=headers)
    assert one.status_code == 200

    narrower = client_body(org, name="new", scopes=all_("READ"))
    assert_denied(await http.post(CLIENTS, json=narrower, headers=headers))
    put = await http.put(
        f"{CLIENTS}/{target['clientKey']}", json=update_body(org, target), headers=headers
    )
    assert_denied(put)
    assert_denied(await http.delete(f"{CLIENTS}/{target['clientKey']}", headers=headers))

    after = (await http.get(CLIENTS, headers=org.auth)).json()["data"]
    assert len(after) == 2
    assert all(client["isValid"] for client in after)


async def test_write_alone_cannot_get(http: httpx.AsyncClient, org: OrgFixture) -> None:
    _, headers = await token_for(http, org, all_("WRITE"))
    assert_denied(await http.get(CLIENTS, headers=headers))
    assert_denied(await http.get(SCOPES, headers=headers))
    created = await http.post(
        CLIENTS, json=client_body(org, name="made", scopes=all_("WRITE")), headers=headers
    )
    assert created.status_code == 200, created.text


async def test_readwrite_can_get_and_change(http: httpx.AsyncClient, org: OrgFixture) -> None:
    _, headers = await token_for(http, org, all_("READWRITE"))
    assert (await http.get(CLIENTS, headers=headers)).status_code == 200
    made = await http.post(
        CLIENTS, json=client_body(org, name="made", scopes=all_("READ")), headers=headers
    )
    assert made.status_code == 200, made.text
    key = made.json()["data"]["clientKey"]
    changed = await http.put(
        f"{CLIENTS}/{key}",
        json={**update_body(org, made.json()["data"]), "name": "renamed"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["name"] == "renamed"
    deleted = await http.delete(f"{CLIENTS}/{key}", headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["data"]["isValid"] is False


async def test_bearer_header_works_like_the_cap_header(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    _, headers = await token_for(http, org, all_("READ"))
    bearer = {"Authorization": f"Bearer {headers['X-CAP-API-OAUTH-TOKEN']}"}
    assert (await http.get(CLIENTS, headers=bearer)).status_code == 200
    assert_denied(await http.delete(f"{CLIENTS}/whatever", headers=bearer))


async def test_resource_patterns_must_fully_match(http: httpx.AsyncClient, org: OrgFixture) -> None:
    _, headers = await token_for(http, org, all_("READ", [".*/v3/integrations/scopes"]))
    allowed = await http.get(SCOPES, headers=headers)
    assert allowed.status_code == 200, allowed.text
    assert (await http.get(f"{SCOPES}?x=1", headers=headers)).status_code == 200
    assert_denied(await http.get(CLIENTS, headers=headers))


async def test_resource_pattern_is_not_a_prefix_or_search(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    _, headers = await token_for(http, org, all_("READ", ["/v3/integrations/client"]))
    assert_denied(await http.get(CLIENTS, headers=headers))
    _, anchored = await token_for(http, org, all_("READ", ["integrations"]), name="second")
    assert_denied(await http.get(CLIENTS, headers=anchored))


async def test_resource_patterns_apply_per_client(http: httpx.AsyncClient, org: OrgFixture) -> None:
    target = await create_client(http, org, name="target", scopes=all_("READ"))
    _, headers = await token_for(http, org, all_("READ", [".*/v3/integrations/clients/.*"]))
    one = await http.get(f"{CLIENTS}/{target['clientKey']}", headers=headers)
    assert one.status_code == 200, one.text
    assert_denied(await http.get(CLIENTS, headers=headers))
    assert_denied(await http.get(SCOPES, headers=headers))


async def test_grant_on_another_entity_gives_nothing_here(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    _, headers = await token_for(
        http, org, [{"entityId": 1, "permission": "READWRITE", "resources": []}]
    )
    assert_denied(await http.get(CLIENTS, headers=headers))
    assert_denied(await http.get(SCOPES, headers=headers))


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE"])
async def test_other_methods_never_pass(
    http: httpx.AsyncClient, org: OrgFixture, method: str
) -> None:
    _, headers = await token_for(http, org, all_("READWRITE"))
    response = await http.request(method, CLIENTS, headers=headers)
    assert response.status_code in {403, 405}, response.text
    assert response.json()["data"] is None

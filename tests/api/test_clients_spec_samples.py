"""Every sample of the Integrations contract replayed: our answers have the samples' shape.

The samples live verbatim in ``tests/fixtures/spec_samples.json``. Request bodies are adapted
only where an id must name one of our fixtures (``defaultTillId`` becomes a real Till).
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from keyloft.storage.store import Database
from tests.support.api import Login, OrgFixture, make_org

SAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "spec_samples.json").read_text("utf-8")
)
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")
CLIENTS = "/v3/integrations/clients"
# Fields Keyloft adds to a client (additive, after the contract's own): nothing else may differ.
ADDED_CLIENT_FIELDS = (
    "lastUsedOn",
    "tokenEndpointAuthMethod",
    "dpopBoundAccessTokens",
    "tlsClientCertificateBoundAccessTokens",
    "jwks",
    "jwksUri",
    "federatedCredentials",
    "tlsClientAuthSubjectDn",
    "tlsClientAuthSanDns",
    "tlsClientAuthSanUri",
    "tlsClientAuthSanIp",
    "tlsClientAuthSanEmail",
    "keys",
    "lastUsedCredential",
    "ipAllowlist",
    "tokenRateLimit",
    "mintLimitHitOn",
    "clientSecretExpiresAt",
)


def _path(sample: str, client_key: str = "") -> str:
    return "/" + SAMPLES[sample]["uri"].replace("{clientKey}", client_key)


def _body(sample: str, org: OrgFixture) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(SAMPLES[sample]["sampleBody"])
    body["defaultTillId"] = org.tills[0].id
    return body


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {str: "string", float: "number", list: "array", dict: "object"}.get(type(value), "null")


def assert_same_shape(ours: Any, sample: Any, where: str = "$") -> None:
    """Same keys (recursively) and JSON types; scope entries may add ``resources``."""
    assert _kind(ours) == _kind(sample), f"{where}: {_kind(ours)} != {_kind(sample)}"
    if isinstance(sample, dict):
        extra = set(ours) - set(sample)
        if where.endswith("scopes[]"):
            assert extra <= {"resources"}, f"{where}: unexpected keys {extra}"
            if "resources" in ours:
                assert all(isinstance(r, str) for r in ours["resources"])
        elif "clientKey" in sample:
            assert extra <= set(ADDED_CLIENT_FIELDS), f"{where}: unexpected keys {extra}"
        else:
            assert not extra, f"{where}: unexpected keys {extra}"
        missing = set(sample) - set(ours)
        assert not missing, f"{where}: missing keys {missing}"
        for key, value in sample.items():
            assert_same_shape(ours[key], value, f"{where}.{key}")
    elif isinstance(sample, list) and sample:
        assert ours, f"{where}: empty where the sample has entries"
        for item in ours:
            assert_same_shape(item, sample[0], f"{where}[]")


def assert_key_order(ours: dict[str, Any], sample: dict[str, Any]) -> None:
    """The contract's keys in its order; Keyloft's additions, if any, only after them."""
    keys = list(ours)
    contract = [key for key in keys if key not in ADDED_CLIENT_FIELDS]
    assert contract == list(sample)
    assert keys[len(contract) :] == [key for key in keys if key in ADDED_CLIENT_FIELDS]
    assert list(ours["attribution"]) == list(sample["attribution"])


def assert_date(value: str, timezone: str) -> None:
    assert DATE.match(value), value
    moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    assert moment.utcoffset() == moment.astimezone(ZoneInfo(timezone)).utcoffset(), value
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5), value


def assert_actor(actor: dict[str, Any], login: Login, kind: str) -> None:
    assert actor["id"] == login.id
    assert actor["code"] == login.code
    assert actor["type"] == kind
    assert isinstance(actor["name"], str)
    assert actor["name"]
    assert actor["description"] == ""


def assert_attribution(data: dict[str, Any], org: OrgFixture, login: Login, kind: str) -> None:
    attribution = data["attribution"]
    for key in ("createdOn", "lastUpdatedOn"):
        assert_date(attribution[key], org.timezone)
    assert_actor(attribution["createdBy"], login, kind)
    assert_actor(attribution["lastUpdatedBy"], login, kind)


def _bare_scopes(scopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"permission": s["permission"], "entityId": s["entityId"]} for s in scopes]


async def test_scopes_sample(http: httpx.AsyncClient, org: OrgFixture) -> None:
    response = await http.get(_path("getScopes"), headers=org.auth)
    assert response.status_code == 200
    assert response.json() == SAMPLES["getScopes"]["sampleResponse"]


async def test_scopes_sample_as_till(http: httpx.AsyncClient, org: OrgFixture) -> None:
    response = await http.get(_path("getScopes"), headers=org.tills[0].headers)
    assert response.status_code == 200
    assert response.json() == SAMPLES["getScopes"]["sampleResponse"]


@pytest.mark.parametrize("caller", ["admin", "till"])
async def test_create_sample(http: httpx.AsyncClient, org: OrgFixture, caller: str) -> None:
    login = org.admin if caller == "admin" else org.tills[1]
    kind = "ADMIN_USER" if caller == "admin" else "TILL"
    sample = SAMPLES["createClient"]["sampleResponse"]
    response = await http.post(
        _path("createClient"), json=_body("createClient", org), headers=login.headers
    )
    assert response.status_code == 200, response.text
    payload = response.json()
    assert list(payload) == ["data", "errors"]
    assert payload["errors"] is None
    assert_same_shape(payload, sample)
    data = payload["data"]
    assert_key_order(data, sample["data"])
    assert_attribution(data, org, login, kind)
    assert data["attribution"]["createdOn"] == data["attribution"]["lastUpdatedOn"]
    for key in ("name", "isValid", "description", "expirationTokenTime"):
        assert data[key] == sample["data"][key]
    assert data["defaultTillId"] == org.tills[0].id
    assert _bare_scopes(data["scopes"]) == sample["data"]["scopes"]
    assert [s["resources"] for s in data["scopes"]] == [[".*v3/targetGroups.*"], []]


async def test_list_sample(http: httpx.AsyncClient, org: OrgFixture) -> None:
    for name in ("democlient", "clientdemo1"):
        body = _body("createClient", org) | {"name": name}
        assert (await http.post(CLIENTS, json=body, headers=org.auth)).status_code == 200
    sample = SAMPLES["listClients"]["sampleResponse"]
    response = await http.get(_path("listClients"), headers=org.auth)
    assert response.status_code == 200
    payload = response.json()
    assert_same_shape(payload, sample)
    assert payload["errors"] is None
    assert [entry["name"] for entry in payload["data"]] == ["democlient", "clientdemo1"]
    for entry in payload["data"]:
        assert_key_order(entry, sample["data"][0])
        assert_attribution(entry, org, org.admin, "ADMIN_USER")


async def test_get_sample(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = (await http.post(CLIENTS, json=_body("createClient", org), headers=org.auth)).json()
    key = created["data"]["clientKey"]
    sample = SAMPLES["getClient"]["sampleResponse"]
    response = await http.get(_path("getClient", key), headers=org.tills[0].headers)
    assert response.status_code == 200
    payload = response.json()
    assert_same_shape(payload, sample)
    data = payload["data"]
    assert_key_order(data, sample["data"])
    assert data["clientKey"] == key
    assert data["id"] == created["data"]["id"]
    assert_attribution(data, org, org.admin, "ADMIN_USER")


async def test_update_sample_by_till(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = (await http.post(CLIENTS, json=_body("createClient", org), headers=org.auth)).json()
    key = created["data"]["clientKey"]
    sample = SAMPLES["updateClient"]["sampleResponse"]
    till = org.tills[1]
    response = await http.put(
        _path("updateClient", key), json=_body("updateClient", org), headers=till.headers
    )
    assert response.status_code == 200, response.text
    payload = response.json()
    assert_same_shape(payload, sample)
    data = payload["data"]
    assert_key_order(data, sample["data"])
    assert data["name"] == sample["data"]["name"]
    assert _bare_scopes(data["scopes"]) == sample["data"]["scopes"]
    assert_actor(data["attribution"]["createdBy"], org.admin, "ADMIN_USER")
    assert_actor(data["attribution"]["lastUpdatedBy"], till, "TILL")
    assert data["attribution"]["createdOn"] == created["data"]["attribution"]["createdOn"]


async def test_delete_sample_by_till(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = (await http.post(CLIENTS, json=_body("createClient", org), headers=org.auth)).json()
    key = created["data"]["clientKey"]
    sample = SAMPLES["deleteClient"]["sampleResponse"]
    till = org.tills[0]
    response = await http.delete(_path("deleteClient", key), headers=till.headers)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert_same_shape(payload, sample)
    data = payload["data"]
    assert_key_order(data, sample["data"])
    assert data["isValid"] is False
    assert_actor(data["attribution"]["createdBy"], org.admin, "ADMIN_USER")
    assert_actor(data["attribution"]["lastUpdatedBy"], till, "TILL")


async def test_dates_follow_the_org_time_zone(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture, database: Database
) -> None:
    utc_org = await make_org(database, "Utc Org", timezone="UTC")
    for owner, offset in ((org, "+0530"), (other_org, None), (utc_org, "+0000")):
        response = await http.post(CLIENTS, json=_body("createClient", owner), headers=owner.auth)
        assert response.status_code == 200, response.text
        attribution = response.json()["data"]["attribution"]
        assert_date(attribution["createdOn"], owner.timezone)
        if offset is not None:
            assert attribution["createdOn"].endswith(offset)
    berlin = (await http.get(CLIENTS, headers=other_org.auth)).json()["data"][0]
    assert berlin["attribution"]["createdOn"][-5:] in ("+0100", "+0200")

"""What the v3 API says of the clients the console tests change, read as the org's admin: one
client, all of them, a client's audit events; and the create form posted with access to All."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import OrgFixture
from tests.support.console import CLIENTS, ORIGIN, client_form

API = "/v3/integrations/clients"
AUDIT = "/v3/integrations/audit"
ALL_READ = {1: "NONE", 2: "READ", 3: "NONE"}  # All: what the scopes listing needs


async def api_client(http: httpx.AsyncClient, org: OrgFixture, key: str) -> dict[str, Any]:
    answer = await http.get(f"{API}/{key}", headers=org.auth)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


async def api_clients(http: httpx.AsyncClient, org: OrgFixture) -> list[dict[str, Any]]:
    answer = await http.get(API, params={"includeInvalid": "true"}, headers=org.auth)
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


async def audit_events(http: httpx.AsyncClient, org: OrgFixture, key: str) -> list[dict[str, Any]]:
    """The client's audit events, newest first."""
    answer = await http.get(AUDIT, params={"clientKey": key}, headers=org.auth)
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["data"]["events"]
    return events


async def create(
    http: httpx.AsyncClient, org: OrgFixture, token: str, **fields: str
) -> httpx.Response:
    """The create form posted with a secret and access to All, plus ``fields``."""
    form = client_form(org.tills[0].id, token, access=ALL_READ) | fields
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 200, answer.text
    return answer

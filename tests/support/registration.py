"""Dynamic client registration (RFC 7591/7592) as a test's caller makes it: register, then
read, replace and delete at the registration client URI with the registration access token."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import BASE_URL, OrgFixture, create_client, mint

REGISTER = "/oauth2/register"
CLIENTS = "/v3/integrations/clients"
# RFC 7592 §2: what every refusal at a registration client URI looks like, whatever the cause.
NOT_REGISTERED = {
    "error": "invalid_token",
    "error_description": "The registration access token is invalid.",
}
TOKEN_CHALLENGE = 'Bearer realm="keyloft", error="invalid_token"'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def metadata(org: OrgFixture, **fields: Any) -> dict[str, Any]:
    """A valid registration for ``org`` (by its admin: the Till named); ``fields`` replace or
    add metadata, and a field given as None is left out."""
    body: dict[str, Any] = {
        "client_name": "dcr-client",
        "scope": "TargetGroups:readwrite All:read",
        "keyloft_default_till_id": org.tills[0].id,
    }
    body.update(fields)
    return {name: value for name, value in body.items() if value is not None}


async def register(http: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await http.post(REGISTER, json=body, headers=headers)


async def registered(http: httpx.AsyncClient, org: OrgFixture, **fields: Any) -> dict[str, Any]:
    """A client the org's admin registered; the registration answer."""
    answer = await register(http, org.auth, metadata(org, **fields))
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()
    return data


def uri_path(registration: dict[str, Any]) -> str:
    """The path of the registration client URI, for the test transport."""
    uri: str = registration["registration_client_uri"]
    assert uri.startswith(BASE_URL)
    return uri.removeprefix(BASE_URL)


def update_body(registration: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An RFC 7592 update that sends back what was registered (without the issued fields),
    with ``fields`` replacing or adding metadata; a field given as None is left out."""
    issued = {
        "client_secret",
        "registration_access_token",
        "registration_client_uri",
        "client_id_issued_at",
        "client_secret_expires_at",
    }
    body = {name: value for name, value in registration.items() if name not in issued}
    body.update(fields)
    return {name: value for name, value in body.items() if value is not None}


async def v3_client(http: httpx.AsyncClient, org: OrgFixture, key: str) -> dict[str, Any]:
    """The client as the management API shows it."""
    answer = await http.get(f"{CLIENTS}/{key}", headers=org.auth)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


async def client_keys(http: httpx.AsyncClient, org: OrgFixture) -> list[str]:
    """Every client of the org, deleted ones too, in creation order."""
    answer = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    assert answer.status_code == 200, answer.text
    return [client["clientKey"] for client in answer.json()["data"]]


async def token_caller(
    http: httpx.AsyncClient, org: OrgFixture, scopes: list[dict[str, Any]], name: str = "caller"
) -> dict[str, str]:
    """Bearer headers for an access token of a new client of ``org`` with ``scopes``."""
    created = await create_client(http, org, name=name, scopes=scopes)
    return bearer(await mint(http, created["clientKey"], created["clientSecret"]))


def grant(entity: int, permission: str, *resources: str) -> dict[str, Any]:
    return {"entityId": entity, "permission": permission, "resources": list(resources)}

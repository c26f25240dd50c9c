"""POST /oauth2/revoke (RFC 7009): a client ends its own tokens; the answer is 200 whatever
the token was, and a revoked token is refused everywhere — also by a node started later."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from keyloft.runtime import build_runtime
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OrgFixture, client_basic, create_client, mint, oauth_token

REVOKE = "/oauth2/revoke"
INTROSPECT = "/oauth2/introspect"
CHECK = "/v3/oauth/check"
SCOPES = "/v3/integrations/scopes"


async def issue(http: httpx.AsyncClient, client: dict[str, Any], kind: str) -> str:
    if kind == "oauth":
        return await oauth_token(http, client)
    return await mint(http, client["clientKey"], client["clientSecret"])


async def revoke(http: httpx.AsyncClient, client: dict[str, Any], token: str) -> httpx.Response:
    return await http.post(
        REVOKE,
        data={"token": token},
        headers=client_basic(client["clientKey"], client["clientSecret"]),
    )


async def active(http: httpx.AsyncClient, client: dict[str, Any], token: str) -> bool:
    answer = await http.post(
        INTROSPECT,
        data={"token": token},
        headers=client_basic(client["clientKey"], client["clientSecret"]),
    )
    assert answer.status_code == 200, answer.text
    value: bool = answer.json()["active"]
    return value


async def api_status(http: httpx.AsyncClient, token: str) -> int:
    return (await http.get(SCOPES, headers={"Authorization": f"Bearer {token}"})).status_code


async def decision(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    answer = await http.post(CHECK, json={"token": token, "method": "GET", "path": SCOPES})
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


GRANTS = [{"entityId": 2, "permission": "READ", "resources": []}]


@pytest.fixture
async def client(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    return await create_client(http, org, name="revoker", scopes=GRANTS)


@pytest.fixture
async def other(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    return await create_client(http, org, name="bystander", scopes=GRANTS)


@pytest.mark.parametrize("kind", ["oauth", "v3"])
async def test_revoked_token_is_refused_everywhere(
    http: httpx.AsyncClient, client: dict[str, Any], kind: str
) -> None:
    token = await issue(http, client, kind)
    kept = await issue(http, client, kind)
    assert await active(http, client, token)
    assert await api_status(http, token) == 200
    assert (await decision(http, token))["allowed"] is True

    answer = await revoke(http, client, token)
    assert answer.status_code == 200, answer.text
    assert answer.content == b""
    assert answer.headers["cache-control"] == "no-store"

    assert not await active(http, client, token)
    assert await api_status(http, token) == 401
    refused = await decision(http, token)
    assert (refused["allowed"], refused["reason"]) == (False, "invalid_token")
    assert refused["clientKey"] is None
    # Only that token: another of the same client's tokens still works.
    assert await api_status(http, kept) == 200
    # Revoking again is still a quiet 200.
    assert (await revoke(http, client, token)).status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param("", id="empty"),
        pytest.param("a.b.c", id="three-dots"),
    ],
)
async def test_revoking_garbage_is_200(
    http: httpx.AsyncClient, client: dict[str, Any], token: str
) -> None:
    answer = await revoke(http, client, token)
    assert answer.status_code == 200, answer.text
    assert answer.content == b""


@pytest.mark.parametrize("kind", ["oauth", "v3"])
async def test_another_clients_token_is_not_revoked(
    http: httpx.AsyncClient, client: dict[str, Any], other: dict[str, Any], kind: str
) -> None:
    token = await issue(http, other, kind)
    answer = await revoke(http, client, token)
    assert answer.status_code == 200, answer.text
    assert await active(http, other, token)
    assert await api_status(http, token) == 200
    assert (await decision(http, token))["allowed"] is True


async def test_revocation_requires_client_authentication(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    token = await oauth_token(http, client)
    for headers in ({}, client_basic(client["clientKey"], "x" * 40)):
        answer = await http.post(REVOKE, data={"token": token}, headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "invalid_client"
    assert await active(http, client, token)
    missing = await http.post(
        REVOKE,
        data={"token_type_hint": "access_token"},
        headers=client_basic(client["clientKey"], client["clientSecret"]),
    )
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


async def test_unknown_token_type_hint_is_ignored(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    token = await oauth_token(http, client)
    answer = await http.post(
        REVOKE,
        data={"token": token, "token_type_hint": "refresh_token"},
        headers=client_basic(client["clientKey"], client["clientSecret"]),
    )
    assert answer.status_code == 200
    assert not await active(http, client, token)


async def test_revocation_survives_a_new_runtime(
    http: httpx.AsyncClient, client: dict[str, Any], settings: Settings, database: Database
) -> None:
    revoked = await oauth_token(http, client)
    kept = await oauth_token(http, client)
    assert (await revoke(http, client, revoked)).status_code == 200

    rt = await build_runtime(settings, database=database)
    try:
        assert rt.revoked.enabled  # the new node trusts its copy: it must have been loaded
        assert len(rt.revoked) == 1
        transport = httpx.ASGITransport(app=create_app(runtime=rt))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as fresh:
            assert not await active(fresh, client, revoked)
            assert await api_status(fresh, revoked) == 401
            assert (await decision(fresh, revoked))["reason"] == "invalid_token"
            assert await active(fresh, client, kept)
            assert await api_status(fresh, kept) == 200
    finally:
        await rt.stop()

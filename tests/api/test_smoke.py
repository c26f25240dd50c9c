"""The whole path once: create a client, mint a token, use it, delete, and it stops working."""

from __future__ import annotations

import httpx

from tests.support.api import OrgFixture, create_client, mint


async def test_create_mint_use_delete(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    token = await mint(http, created["clientKey"], created["clientSecret"])
    headers = {"X-CAP-API-OAUTH-TOKEN": token}

    deleted = await http.delete(f"/v3/integrations/clients/{created['clientKey']}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json()["data"]["isValid"] is False

    refused = await http.delete(f"/v3/integrations/clients/{created['clientKey']}", headers=headers)
    assert refused.status_code == 401

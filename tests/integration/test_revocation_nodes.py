"""Revocation across nodes: two runtimes on one database and one Redis; a token revoked on
node A is refused by node B within 1 s, from B's own copy of the revoked tokens."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, create_client, make_org, mint
from tests.support.redis_servers import DEFAULT_REDIS
from tests.support.waiting import eventually

SCOPES = "/v3/integrations/scopes"


class Node:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        transport = httpx.ASGITransport(app=create_app(runtime=rt))
        self.http = httpx.AsyncClient(transport=transport, base_url=BASE_URL)

    async def decision(self, token: str) -> dict[str, Any]:
        answer = await self.http.post(
            "/v3/oauth/check", json={"token": token, "method": "GET", "path": SCOPES}
        )
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data


@pytest.fixture
async def nodes(
    settings: Settings, database: Database, redis: Redis
) -> AsyncIterator[tuple[Node, Node]]:
    shared = settings.model_copy(
        update={"redis_url": os.environ.get("KEYLOFT_TEST_REDIS_URL", DEFAULT_REDIS)}
    )
    made: list[Node] = []
    try:
        for _ in range(2):
            rt = await build_runtime(shared, database=Database(create_engine(shared.database_url)))
            made.append(Node(rt))
        for node in made:
            # Subscribed, and the copy reloaded from the store and trusted again.
            await eventually(lambda n=node: n.rt.bus.healthy and n.rt.revoked.enabled, within=10)
        yield made[0], made[1]
    finally:
        for node in made:
            await node.http.aclose()
            await node.rt.close()


def basic(client: dict[str, Any]) -> dict[str, str]:
    raw = f"{client['clientKey']}:{client['clientSecret']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize("kind", ["oauth", "v3"])
async def test_revoked_on_a_is_refused_on_b_within_a_second(
    nodes: tuple[Node, Node], database: Database, kind: str
) -> None:
    a, b = nodes
    org = await make_org(database, "Revokers")
    client = await create_client(
        a.http, org, scopes=[{"entityId": 2, "permission": "READ", "resources": []}]
    )
    if kind == "oauth":
        issued = await a.http.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic(client)
        )
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]
    else:
        token = await mint(a.http, client["clientKey"], client["clientSecret"])
    assert (await b.decision(token))["allowed"] is True
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await b.http.get(SCOPES, headers=bearer)).status_code == 200

    revoked = await a.http.post("/oauth2/revoke", data={"token": token}, headers=basic(client))
    assert revoked.status_code == 200, revoked.text

    async def refused_on_b() -> bool:
        return (await b.decision(token))["reason"] == "invalid_token"

    took = await eventually(refused_on_b, within=1.0)
    assert took < 1.0
    assert b.rt.revoked.enabled  # refused from B's trusted copy, fed by the bus
    assert len(b.rt.revoked) == 1
    assert (await b.http.get(SCOPES, headers=bearer)).status_code == 401
    print(f"revocation {kind} reached node B in {took * 1000:.1f} ms")

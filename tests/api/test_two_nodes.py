"""Two nodes in one process, each with its own engine, on the same database.

Whatever the nodes must agree on — the org's client limit, the ETag of a client — is decided
by the database, so requests racing through different nodes still get exactly one answer.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OrgFixture, client_body, create_client, make_org, mint

CLIENTS = "/v3/integrations/clients"
SCOPES = "/v3/integrations/scopes"
LIMIT = 15

Nodes = tuple[httpx.AsyncClient, httpx.AsyncClient]


@pytest.fixture
async def nodes(settings: Settings, database: Database) -> AsyncIterator[Nodes]:
    """Nodes A and B, each with its own engine and pool; ``database`` prepared the store."""
    runtimes: list[Runtime] = []
    clients: list[httpx.AsyncClient] = []
    try:
        # Without Redis, a deployment of several processes says so (as `keyloft serve
        # --workers` does): none of them may then trust copies it cannot keep fresh.
        shared = settings.model_copy(update={"workers": 2})
        for _ in range(2):
            rt = await build_runtime(shared, database=Database(create_engine(shared.database_url)))
            runtimes.append(rt)
            transport = httpx.ASGITransport(app=create_app(runtime=rt))
            clients.append(httpx.AsyncClient(transport=transport, base_url=BASE_URL))
        assert runtimes[0].database.engine is not runtimes[1].database.engine
        yield clients[0], clients[1]
    finally:
        for client in clients:
            await client.aclose()
        for rt in runtimes:
            await rt.close()  # these engines are ours: dispose them


async def read(http: httpx.AsyncClient, org: OrgFixture, key: str) -> tuple[str, Any]:
    response = await http.get(f"{CLIENTS}/{key}", headers=org.auth)
    assert response.status_code == 200, response.text
    return response.headers["ETag"], response.json()


async def test_concurrent_creates_across_nodes_stop_exactly_at_the_limit(
    nodes: Nodes, database: Database
) -> None:
    org = await make_org(database, "Racers", max_clients=LIMIT)
    for http in nodes:  # verify the admin password once per node, outside the race
        assert (await http.get(SCOPES, headers=org.auth)).status_code == 200

    responses = await asyncio.gather(
        *(
            nodes[n % 2].post(CLIENTS, json=client_body(org, name=f"racer-{n}"), headers=org.auth)
            for n in range(2 * LIMIT)
        )
    )
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: LIMIT, 409: LIMIT}, [r.text for r in responses if r.status_code >= 500]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["errors"][0]["code"] == 4092
    created = {r.json()["data"]["clientKey"] for r in responses if r.status_code == 200}
    assert len(created) == LIMIT

    for http in nodes:
        listed = await http.get(CLIENTS, headers=org.auth)
        assert listed.status_code == 200, listed.text
        assert {client["clientKey"] for client in listed.json()["data"]} == created


async def test_created_on_one_node_is_read_alike_on_the_other(
    nodes: Nodes, org: OrgFixture
) -> None:
    node_a, node_b = nodes
    created = await create_client(node_a, org)
    key = created["clientKey"]
    tag_a, body_a = await read(node_a, org, key)
    tag_b, body_b = await read(node_b, org, key)
    assert tag_a == tag_b
    assert body_a == body_b
    assert body_b["data"]["clientKey"] == key
    assert body_b["data"]["name"] == created["name"]
    assert "clientSecret" not in body_b["data"]
    # And it mints on the node that did not create it.
    await mint(node_b, key, created["clientSecret"])


async def test_same_etag_puts_on_two_nodes_one_wins(nodes: Nodes, org: OrgFixture) -> None:
    node_a, node_b = nodes
    created = await create_client(node_a, org)
    key = created["clientKey"]
    tag, _ = await read(node_b, org, key)

    def change(ttl: int) -> dict[str, Any]:
        return {
            "expirationTokenTime": ttl,
            "defaultTillId": org.tills[0].id,
            "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
        }

    headers = org.auth | {"If-Match": tag}
    first, second = await asyncio.gather(
        node_a.put(f"{CLIENTS}/{key}", json=change(101), headers=headers),
        node_b.put(f"{CLIENTS}/{key}", json=change(202), headers=headers),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 412], (
        first.text,
        second.text,
    )
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert loser.json()["data"] is None
    assert loser.json()["errors"][0]["code"] == 4121

    for http in nodes:
        now_tag, now = await read(http, org, key)
        assert now_tag == winner.headers["ETag"]
        assert now_tag != tag
        assert now["data"]["expirationTokenTime"] == winner.json()["data"]["expirationTokenTime"]

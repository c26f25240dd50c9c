"""Concurrent writes while PostgreSQL goes away mid-burst: every acknowledged create survives,
no refused create is applied, nothing is duplicated, and nothing answers 500.

Twenty creates run at once through a node whose database connections pass a TCP proxy; the
proxy is cut the moment the tenth answer arrives, while the others are still in flight.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from keyloft.storage.store import Database
from tests.integration.proxied import BOUNDED, ProxiedNode, proxied_node
from tests.support.api import client_body, make_org
from tests.support.waiting import eventually

CLIENTS = "/v3/integrations/clients"
BURST = 20
CUT_AFTER = 10


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only: the proxy stands in front of a TCP server."""
    return postgres_url


@pytest.fixture
async def node(settings: Settings, database: Database) -> AsyncIterator[ProxiedNode]:
    async with proxied_node(settings) as proxied:
        yield proxied


async def test_burst_of_creates_cut_halfway(node: ProxiedNode, database: Database) -> None:
    org = await make_org(database, "Acme", max_clients=100)
    http = node.http
    # One acknowledged request first, so the burst's logins come from the login cache.
    warm = await http.get(CLIENTS, headers=org.auth)
    assert warm.status_code == 200

    answered: list[int] = []

    async def create(n: int) -> tuple[str, httpx.Response]:
        name = f"burst-{n:02d}"
        response = await asyncio.wait_for(
            http.post(CLIENTS, json=client_body(org, name=name), headers=org.auth),
            3 * BOUNDED,
        )
        answered.append(response.status_code)
        if len(answered) == CUT_AFTER:
            node.proxy.cut()
        return name, response

    outcomes = await asyncio.gather(*(create(n) for n in range(BURST)))
    statuses = Counter(response.status_code for _, response in outcomes)
    assert set(statuses) <= {200, 503}, statuses
    assert node.proxy.is_cut
    assert statuses[200] >= CUT_AFTER
    assert statuses[503] > 0  # the cut caught creates in flight

    node.proxy.restore()
    await eventually(lambda: _list_ok(http, org.auth), within=BOUNDED)
    listed = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    assert listed.status_code == 200
    stored: list[dict[str, Any]] = listed.json()["data"]
    names = Counter(client["name"] for client in stored)
    assert max(names.values()) == 1, names  # no duplicates
    by_name = {client["name"]: client for client in stored}
    for name, response in outcomes:
        if response.status_code == 200:
            assert name in by_name, f"acknowledged {name} was lost"
            assert by_name[name]["clientKey"] == response.json()["data"]["clientKey"]
        else:
            assert name not in by_name, f"{name} was refused with 503 but applied"
            body = response.json()
            assert body["data"] is None
            assert body["errors"][0]["code"] == 5030
            assert int(response.headers["Retry-After"]) >= 1
    assert set(by_name) == {name for name, r in outcomes if r.status_code == 200}


async def _list_ok(http: httpx.AsyncClient, auth: dict[str, str]) -> bool:
    return (await http.get(CLIENTS, headers=auth)).status_code == 200

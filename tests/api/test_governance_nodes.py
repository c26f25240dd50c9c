"""Mint limits on two nodes of one deployment: shared through Redis, counted per node without
it; and the governance fields stored and read back on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from keyloft.config import Settings
from keyloft.runtime import Runtime
from keyloft.storage.store import Database
from tests.support.api import create_client, make_org
from tests.support.two_nodes import Nodes, two_nodes
from tests.unit.fakes import FakeClock

TOKEN = "/v3/oauth/token/generate"
CLIENTS = "/v3/integrations/clients"
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
MINUTE = datetime(2030, 5, 6, 7, 8, 0, tzinfo=UTC)


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis), "store"])
async def pair(
    request: pytest.FixtureRequest, settings: Settings, database: Database
) -> AsyncIterator[tuple[Nodes, list[Runtime], str]]:
    async with two_nodes(settings, request.param) as (nodes, runtimes):
        for rt in runtimes:
            rt.clock = FakeClock(MINUTE)
        yield nodes, runtimes, request.param


async def test_the_mint_limit_is_shared_with_redis_and_per_node_without(
    pair: tuple[Nodes, list[Runtime], str], database: Database
) -> None:
    (a, b), runtimes, variant = pair
    org = await make_org(database, f"Limits {variant}")
    client = await create_client(a, org, tokenRateLimit={"perMinute": 3})
    secret = {"key": client["clientKey"], "secret": client["clientSecret"]}
    statuses = [(await node.post(TOKEN, json=secret)).status_code for node in (a, b, a, b)]
    if variant == "redis":
        assert statuses == [200, 200, 200, 429]
    else:
        # Each node counts its own: two tokens each are within the limit of three.
        assert statuses == [200, 200, 200, 200]
        assert (await a.post(TOKEN, json=secret)).status_code == 200
        assert (await a.post(TOKEN, json=secret)).status_code == 429
    for rt in runtimes:
        rt.clock = FakeClock(MINUTE.replace(minute=9))
    assert (await b.post(TOKEN, json=secret)).status_code == 200


@pytest.mark.parametrize("database_url", STORES, indirect=True)
async def test_governance_round_trips_through_the_store(
    http: httpx.AsyncClient, database: Database, runtime: Runtime, clock: FakeClock
) -> None:
    clock.moment = MINUTE
    org = await make_org(database, "Stored", timezone="UTC")
    client = await create_client(
        http, org, ipAllowlist=["::1", "127.0.0.0/8"], tokenRateLimit={"perMinute": 1}
    )
    secret = {"key": client["clientKey"], "secret": client["clientSecret"]}
    assert (await http.post(TOKEN, json=secret)).status_code == 200
    assert (await http.post(TOKEN, json=secret)).status_code == 429
    assert await runtime.flush_mint_limit_hits() == 1
    async with database.unit_of_work(write=False) as store:
        stored = await store.clients.get(org.id, client["clientKey"])
    assert stored is not None
    assert stored.governance.allowlist_strings == ["::1/128", "127.0.0.0/8"]
    assert stored.governance.tokens_per_minute == 1
    assert stored.mint_limit_hit_on == MINUTE
    read = (await http.get(f"{CLIENTS}/{client['clientKey']}", headers=org.auth)).json()
    assert read["data"]["mintLimitHitOn"] == "2030-05-06T07:08:00.000+0000"

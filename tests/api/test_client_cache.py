"""The hot path reads client state from the node's cache, and a change drops it at once.

A listener on the engine records every SQL statement, so the tests can tell a cache hit (no
statement about the client) from a read of the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OrgFixture, Statements, create_client, mint

CLIENTS = "/v3/integrations/clients"
SCOPES = "/v3/integrations/scopes"
TOKEN = "/v3/oauth/token/generate"


def grant(entity: int, permission: str, *resources: str) -> dict[str, Any]:
    return {"entityId": entity, "permission": permission, "resources": list(resources)}


def token_headers(token: str) -> dict[str, str]:
    return {"X-CAP-API-OAUTH-TOKEN": token}


async def test_second_mint_runs_no_statement(
    http: httpx.AsyncClient, runtime: Runtime, statements: Statements, org: OrgFixture
) -> None:
    assert runtime.cache.enabled is True
    created = await create_client(http, org)
    key, secret = created["clientKey"], created["clientSecret"]
    statements.clear()
    await mint(http, key, secret)
    assert statements.about_clients(), "the first mint must read the client from the store"
    assert runtime.cache.by_key(key) is not None

    statements.clear()
    await mint(http, key, secret)
    assert statements.queries() == []


async def test_wrong_secret_is_refused_from_the_cache(
    http: httpx.AsyncClient, statements: Statements, org: OrgFixture
) -> None:
    created = await create_client(http, org)
    await mint(http, created["clientKey"], created["clientSecret"])
    statements.clear()
    refused = await http.post(TOKEN, json={"key": created["clientKey"], "secret": "wrong"})
    assert refused.status_code == 401, refused.text
    assert statements.queries() == []


async def test_token_call_reads_no_client_rows(
    http: httpx.AsyncClient, statements: Statements, org: OrgFixture
) -> None:
    created = await create_client(http, org, scopes=[grant(2, "READ")])
    headers = token_headers(await mint(http, created["clientKey"], created["clientSecret"]))
    first = await http.get(SCOPES, headers=headers)
    assert first.status_code == 200, first.text

    statements.clear()
    second = await http.get(SCOPES, headers=headers)
    assert second.status_code == 200, second.text
    assert second.json() == first.json()
    assert statements.about_clients() == []
    # The listener does see this request: the route itself reads the org's scope entities.
    assert any("scope_entities" in statement for statement in statements.queries())


async def test_delete_drops_the_cached_client_at_once(
    http: httpx.AsyncClient,
    runtime: Runtime,
    statements: Statements,
    org: OrgFixture,
) -> None:
    created = await create_client(http, org, scopes=[grant(2, "READ")])
    key, secret = created["clientKey"], created["clientSecret"]
    headers = token_headers(await mint(http, key, secret))
    assert (await http.get(SCOPES, headers=headers)).status_code == 200
    assert runtime.cache.by_key(key) is not None

    deleted = await http.delete(f"{CLIENTS}/{key}", headers=org.auth)
    assert deleted.status_code == 200, deleted.text
    assert runtime.cache.by_key(key) is None

    statements.clear()
    refused = await http.get(SCOPES, headers=headers)
    assert refused.status_code == 401, refused.text
    assert "invalid_token" in refused.headers["WWW-Authenticate"]
    assert statements.about_clients(), "the answer must come from the store"
    minted = await http.post(TOKEN, json={"key": key, "secret": secret})
    assert minted.status_code == 401, minted.text
    assert minted.json()["errors"][0]["code"] == 3002


async def test_narrowing_scopes_takes_effect_at_once(
    http: httpx.AsyncClient, runtime: Runtime, org: OrgFixture
) -> None:
    created = await create_client(http, org, scopes=[grant(2, "READ")])
    key, secret = created["clientKey"], created["clientSecret"]
    headers = token_headers(await mint(http, key, secret))
    assert (await http.get(SCOPES, headers=headers)).status_code == 200
    assert runtime.cache.by_key(key) is not None

    narrowed = await http.put(
        f"{CLIENTS}/{key}",
        json={
            "expirationTokenTime": 120,
            "defaultTillId": created["defaultTillId"],
            "scopes": [grant(1, "READ")],
        },
        headers=org.auth,
    )
    assert narrowed.status_code == 200, narrowed.text

    denied = await http.get(SCOPES, headers=headers)
    assert denied.status_code == 403, denied.text
    assert denied.json()["errors"][0]["code"] == 4000
    fresh = await http.post(TOKEN, json={"key": key, "secret": secret})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["data"]["ttlSeconds"] == 120  # not the cached 600
    fresh_headers = token_headers(fresh.json()["data"]["accessToken"])
    assert (await http.get(SCOPES, headers=fresh_headers)).status_code == 403


async def test_scope_entity_change_drops_the_orgs_clients(
    http: httpx.AsyncClient, runtime: Runtime, database: Database, org: OrgFixture
) -> None:
    """A change to an org's scope entities, announced on the bus, drops its cached clients."""
    created = await create_client(http, org)
    await mint(http, created["clientKey"], created["clientSecret"])
    assert runtime.cache.by_key(created["clientKey"]) is not None
    async with database.unit_of_work(write=True) as store:
        await store.scopes.add(org.id, "Coupons", r".*v2/coupons.*")
    assert org.id in store.changes.orgs
    await runtime.bus.publish(store.changes)
    assert runtime.cache.by_key(created["clientKey"]) is None


@pytest.fixture
async def workers_node(
    settings: Settings, database: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """A node told it runs two worker processes, without Redis."""
    rt = await build_runtime(settings.model_copy(update={"workers": 2}), database=database)
    transport = httpx.ASGITransport(app=create_app(runtime=rt))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client, rt
    await rt.stop()  # the database fixture disposes the engine itself


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_several_workers_without_redis_turn_the_cache_off_on_postgresql(
    workers_node: tuple[httpx.AsyncClient, Runtime],
    statements: Statements,
    org: OrgFixture,
    settings: Settings,
) -> None:
    """Without Redis, PostgreSQL workers cannot hear of each other's changes (SQLite workers
    look: tests/api/test_sqlite_workers_cache.py)."""
    http, rt = workers_node
    assert rt.cache.enabled is False
    created = await create_client(http, org)
    for _ in range(3):
        statements.clear()
        await mint(http, created["clientKey"], created["clientSecret"])
        assert statements.about_clients(), "every mint must read the store"
    assert len(rt.cache) == 0
    ready = await http.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "store": "up", "redis": "off", "clientCache": False}


async def test_ready_reports_store_redis_and_cache(http: httpx.AsyncClient) -> None:
    response = await http.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "store": "up", "redis": "off", "clientCache": True}
    assert response.headers["Cache-Control"] == "no-store"

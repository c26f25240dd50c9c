"""SQLite workers without Redis keep the client cache on and notice each other's commits.

Two runtimes in one process, each told it is one of two workers and each with its own engine
on the same database file, stand in for the worker processes: neither hears the other's bus,
so whatever one learns of the other's changes it learns from the database file's
``data_version``. tests/integration/test_sqlite_workers.py does the same with real processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OrgFixture, create_client, mint

TOKEN = "/v3/oauth/token/generate"
CHECK = "/v3/oauth/check"
CLIENTS = "/v3/integrations/clients"
WITHIN = 5.0
# PostgreSQL workers share changes through Redis (tests/api/test_client_cache.py).
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

Worker = tuple[httpx.AsyncClient, Runtime]


@pytest.fixture
async def workers(settings: Settings, database: Database) -> AsyncIterator[tuple[Worker, Worker]]:
    two = settings.model_copy(update={"workers": 2})
    built: list[Worker] = []
    try:
        for _ in range(2):
            rt = await build_runtime(two, database=Database(create_engine(two.database_url)))
            transport = httpx.ASGITransport(app=create_app(runtime=rt))
            built.append((httpx.AsyncClient(transport=transport, base_url=BASE_URL), rt))
        yield built[0], built[1]
    finally:
        for http, rt in built:
            await http.aclose()
            await rt.close()


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` until it holds, failing after WITHIN seconds."""
    deadline = time.monotonic() + WITHIN
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WITHIN} s: {what}")
        await asyncio.sleep(0.002)


async def decide(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    body = {"token": token, "method": "GET", "path": "/v3/targetGroups/7"}
    response = await http.post(CHECK, json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_the_cache_is_on_and_a_hit_opens_no_transaction(
    workers: tuple[Worker, Worker], org: OrgFixture
) -> None:
    (http, rt), _ = workers
    assert rt.cache.enabled is True
    assert rt.watch is not None
    created = await create_client(http, org)
    await mint(http, created["clientKey"], created["clientSecret"])
    token = await mint(http, created["clientKey"], created["clientSecret"])
    assert (await decide(http, token))["allowed"] is True

    checkouts: list[object] = []
    pool = rt.database.engine.sync_engine
    listener = lambda *args: checkouts.append(args)  # noqa: E731
    event.listen(pool, "checkout", listener)
    try:
        await mint(http, created["clientKey"], created["clientSecret"])
        assert (await decide(http, token))["allowed"] is True
    finally:
        event.remove(pool, "checkout", listener)
    assert checkouts == [], "a cache hit must not take a connection"
    ready = (await http.get("/health/ready")).json()
    assert ready["clientCache"] is True


async def test_a_delete_through_one_worker_stops_the_other_at_once(
    workers: tuple[Worker, Worker], org: OrgFixture
) -> None:
    (a, rt_a), (b, _) = workers
    created = await create_client(a, org)
    key, secret = created["clientKey"], created["clientSecret"]
    token = await mint(a, key, secret)
    await mint(b, key, secret)
    assert (await decide(a, token))["allowed"] is True
    assert (await decide(b, token))["allowed"] is True
    assert rt_a.cache.by_key(key) is not None

    deleted = await b.delete(f"{CLIENTS}/{key}", headers=org.auth)
    assert deleted.status_code == 200, deleted.text

    async def refused() -> bool:
        response = await a.post(TOKEN, json={"key": key, "secret": secret})
        return response.status_code == 401

    await until(refused, "worker A refuses the deleted client's secret")
    assert (await decide(a, token))["allowed"] is False
    assert rt_a.watch is not None
    assert rt_a.watch.changes_seen >= 1


async def test_a_change_through_one_worker_shows_on_the_other(
    workers: tuple[Worker, Worker], org: OrgFixture
) -> None:
    (a, _), (b, _) = workers
    created = await create_client(a, org, expirationTokenTime=600)
    key, secret = created["clientKey"], created["clientSecret"]
    first = await a.post(TOKEN, json={"key": key, "secret": secret})
    assert first.json()["data"]["ttlSeconds"] == 600
    body = {
        "name": created["name"],
        "expirationTokenTime": 120,
        "defaultTillId": created["defaultTillId"],
        "scopes": [{"entityId": 1, "permission": "READ", "resources": []}],
    }
    changed = await b.put(f"{CLIENTS}/{key}", json=body, headers=org.auth)
    assert changed.status_code == 200, changed.text

    async def shorter() -> bool:
        response = await a.post(TOKEN, json={"key": key, "secret": secret})
        assert response.status_code == 200, response.text
        return bool(response.json()["data"]["ttlSeconds"] == 120)

    await until(shorter, "worker A mints with the new lifetime")


async def test_a_revocation_through_one_worker_is_honoured_by_the_other(
    workers: tuple[Worker, Worker], org: OrgFixture
) -> None:
    (a, rt_a), (b, _) = workers
    created = await create_client(a, org)
    key, secret = created["clientKey"], created["clientSecret"]
    issued = await a.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(key, secret)
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    assert (await decide(a, token))["allowed"] is True
    assert rt_a.revoked.enabled is True

    revoked = await b.post("/oauth2/revoke", data={"token": token}, auth=(key, secret))
    assert revoked.status_code == 200, revoked.text

    async def dead() -> bool:
        return (await decide(a, token))["allowed"] is False

    await until(dead, "worker A refuses the revoked token")
    await rt_a.copies.settle()
    assert rt_a.revoked.enabled is True, "trusted again once reloaded"
    assert (await decide(a, token))["allowed"] is False

"""Redis down under running nodes: they keep serving from the store, report ``degraded``,
keep counting failed logins in process, refuse a deleted client's tokens at once (revocation
fails closed), never answer 5xx, and turn everything back on by themselves when Redis returns.

Each node is a runtime and app of its own with ``redis_url`` pointing at a private
redis-server the test stops and starts again on the same port. Runs on both stores.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OrgFixture, basic, create_client, make_org, mint
from tests.support.redis_servers import RedisProcess
from tests.support.waiting import eventually

CLIENTS = "/v3/integrations/clients"
TOKEN = "/v3/oauth/token/generate"
READ_CLIENTS = [{"entityId": 2, "permission": "READWRITE", "resources": []}]
FAILURE_LIMIT = 3
# While Redis is away a request may pay its connection timeouts, not more.
DEGRADED_LATENCY = 2.0


@dataclass
class Node:
    runtime: Runtime
    http: httpx.AsyncClient
    statuses: list[tuple[str, int]] = field(default_factory=list)
    slowest: float = 0.0

    async def token_call(self, token: str) -> httpx.Response:
        return await self.http.get(CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token})

    async def ready(self) -> dict[str, Any]:
        response = await self.http.get("/health/ready")
        body: dict[str, Any] = response.json()
        body["httpStatus"] = response.status_code
        return body

    def no_server_errors(self) -> None:
        failed = [(what, status) for what, status in self.statuses if status >= 500]
        assert failed == []


@asynccontextmanager
async def running_node(settings: Settings, database: Database) -> AsyncIterator[Node]:
    runtime = await build_runtime(settings, database=database)
    started: dict[int, float] = {}
    statuses: list[tuple[str, int]] = []

    async def on_request(request: httpx.Request) -> None:
        started[id(request)] = time.monotonic()

    async def on_response(response: httpx.Response) -> None:
        request = response.request
        statuses.append((f"{request.method} {request.url.path}", response.status_code))
        took = time.monotonic() - started.pop(id(request), time.monotonic())
        node.slowest = max(node.slowest, took)

    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    hooks: dict[str, list[Callable[..., Any]]] = {
        "request": [on_request],
        "response": [on_response],
    }
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, event_hooks=hooks
        ) as http:
            node = Node(runtime, http, statuses)
            yield node
    finally:
        await runtime.stop()


@pytest.fixture
def redis_settings(settings: Settings, private_redis: RedisProcess) -> Settings:
    return settings.model_copy(
        update={"redis_url": private_redis.url, "auth_failure_limit": FAILURE_LIMIT}
    )


@pytest.fixture
async def node_a(redis_settings: Settings, database: Database) -> AsyncIterator[Node]:
    async with running_node(redis_settings, database) as node:
        yield node


@pytest.fixture
async def node_b(redis_settings: Settings, database: Database) -> AsyncIterator[Node]:
    """A second node on the same store and Redis, with an engine (and caches) of its own."""
    own = Database(create_engine(redis_settings.database_url))
    try:
        async with running_node(redis_settings, own) as node:
            yield node
    finally:
        await own.dispose()


async def wait_healthy(*nodes: Node) -> None:
    for node in nodes:
        await eventually(lambda node=node: node.runtime.bus.healthy, within=5)


async def cached_by_a_call(node: Node, token: str, client_id: int) -> bool:
    """A token call is answered, and leaves the node holding the client's state."""
    assert (await node.token_call(token)).status_code == 200
    return node.runtime.cache.by_id(client_id) is not None


async def refused(node: Node, token: str) -> bool:
    return (await node.token_call(token)).status_code == 401


async def failed_logins_reach_the_limit(
    node: Node, org: OrgFixture, victim: dict[str, Any]
) -> None:
    """FAILURE_LIMIT wrong guesses are checked and refused; the next is not even checked."""
    till = org.tills[1]
    wrong_login = basic(till.code, "Wrong-Password-4711")
    wrong_secret = {"key": victim["clientKey"], "secret": "not-the-secret"}
    for _ in range(FAILURE_LIMIT):
        assert (await node.http.get(CLIENTS, headers=wrong_login)).status_code == 401
        assert (await node.http.post(TOKEN, json=wrong_secret)).status_code == 401
    for blocked in (
        await node.http.get(CLIENTS, headers=wrong_login),
        await node.http.get(CLIENTS, headers=till.headers),  # right password, still refused
        await node.http.post(TOKEN, json=wrong_secret),
        await node.http.post(
            TOKEN, json={"key": victim["clientKey"], "secret": victim["clientSecret"]}
        ),
    ):
        assert blocked.status_code == 429, blocked.text
        assert int(blocked.headers["Retry-After"]) >= 1
        assert blocked.json()["errors"][0]["code"] == 4290


async def test_redis_outage_and_recovery(
    node_a: Node, node_b: Node, database: Database, private_redis: RedisProcess
) -> None:
    await wait_healthy(node_a, node_b)
    org = await make_org(database, "Acme")
    ok = {"status": "ok", "store": "up", "redis": "up", "clientCache": True, "httpStatus": 200}
    assert await node_a.ready() == ok

    created = await create_client(node_a.http, org, name="kept", scopes=READ_CLIENTS)
    doomed = await create_client(node_a.http, org, name="doomed", scopes=READ_CLIENTS)
    victim = await create_client(node_a.http, org, name="victim", scopes=READ_CLIENTS)
    token = await mint(node_a.http, created["clientKey"], created["clientSecret"])
    hits = node_a.runtime.cache.hits
    await mint(node_a.http, created["clientKey"], created["clientSecret"])
    assert node_a.runtime.cache.hits > hits  # the second mint came from the cache
    assert (await node_a.token_call(token)).status_code == 200
    doomed_token = await mint(node_a.http, doomed["clientKey"], doomed["clientSecret"])
    # Node B caches the client; announcements of node A's creations may still be arriving and
    # drop what it read meanwhile, so the call is repeated until the copy stays.
    await eventually(lambda: cached_by_a_call(node_b, doomed_token, doomed["id"]), within=2)

    # Redis goes away.
    private_redis.stop()
    degraded = {
        "status": "degraded",
        "store": "up",
        "redis": "down",
        "clientCache": False,
        "httpStatus": 200,
    }
    for node in (node_a, node_b):
        await eventually(lambda node=node: _ready_is(node, degraded), within=5)
    node_a.slowest = 0.0

    # Minting and token calls keep working, answered from the store.
    await mint(node_a.http, created["clientKey"], created["clientSecret"])
    await mint(node_b.http, created["clientKey"], created["clientSecret"])
    assert (await node_a.token_call(token)).status_code == 200
    assert (await node_b.token_call(token)).status_code == 200
    listed = await node_b.http.get(CLIENTS, headers=org.auth)
    assert listed.status_code == 200
    assert {"kept", "doomed", "victim"} <= {c["name"] for c in listed.json()["data"]}

    # Failed logins are still counted (in process) and still refused past the limit.
    await failed_logins_reach_the_limit(node_a, org, victim)

    # A delete made on node A stops the token on both nodes at once: the invalidation cannot
    # travel, but neither node trusts its cache while Redis is away.
    deleted = await node_a.http.delete(f"{CLIENTS}/{doomed['clientKey']}", headers=org.auth)
    assert deleted.status_code == 200, deleted.text
    assert (await node_a.token_call(doomed_token)).status_code == 401
    assert (await node_b.token_call(doomed_token)).status_code == 401
    refused_mint = await node_b.http.post(
        TOKEN, json={"key": doomed["clientKey"], "secret": doomed["clientSecret"]}
    )
    assert refused_mint.status_code == 401
    assert node_a.slowest < DEGRADED_LATENCY, f"slowest degraded request {node_a.slowest:.2f} s"

    # Redis comes back on the same port: both nodes turn their caches on again by themselves.
    private_redis.start()
    for node in (node_a, node_b):
        await eventually(lambda node=node: _ready_is(node, ok), within=10)

    seen = node_a.runtime.cache.generation()
    again = await create_client(node_b.http, org, name="after", scopes=READ_CLIENTS)
    # Node B's announcement of the new client reaches node A over Redis in its own time; until
    # it has, it may drop what node A caches meanwhile. Wait for it, then count hits.
    await eventually(lambda: node_a.runtime.cache.generation() > seen, within=2)
    after_token = await mint(node_a.http, again["clientKey"], again["clientSecret"])
    hits = node_a.runtime.cache.hits
    await mint(node_a.http, again["clientKey"], again["clientSecret"])
    assert node_a.runtime.cache.hits > hits  # cached again
    assert (await node_a.token_call(after_token)).status_code == 200
    assert (await node_b.token_call(token)).status_code == 200
    assert (await node_a.token_call(doomed_token)).status_code == 401

    # A delete on node A reaches node B's cache within 1 s of recovery.
    await eventually(lambda: cached_by_a_call(node_b, after_token, again["id"]), within=2)
    deleted = await node_a.http.delete(f"{CLIENTS}/{again['clientKey']}", headers=org.auth)
    assert deleted.status_code == 200
    took = await eventually(lambda: refused(node_b, after_token), within=1.0)
    assert took < 1.0

    node_a.no_server_errors()
    node_b.no_server_errors()


async def test_node_started_while_redis_is_down_serves_and_recovers(
    redis_settings: Settings, database: Database, private_redis: RedisProcess
) -> None:
    private_redis.stop()
    async with running_node(redis_settings, database) as node:
        org = await make_org(database, "Acme")
        degraded = {
            "status": "degraded",
            "store": "up",
            "redis": "down",
            "clientCache": False,
            "httpStatus": 200,
        }
        assert await node.ready() == degraded
        created = await create_client(node.http, org, scopes=READ_CLIENTS)
        token = await mint(node.http, created["clientKey"], created["clientSecret"])
        assert (await node.token_call(token)).status_code == 200
        assert len(node.runtime.cache) == 0  # nothing cached while nothing can invalidate it

        private_redis.start()
        await eventually(lambda: node.runtime.bus.healthy, within=10)
        assert (await node.ready())["status"] == "ok"
        assert (await node.token_call(token)).status_code == 200
        assert node.runtime.cache.by_id(created["id"]) is not None
        node.no_server_errors()


async def _ready_is(node: Node, expected: dict[str, Any]) -> bool:
    return await node.ready() == expected

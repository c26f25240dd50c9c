"""Failed-authentication counts are shared by every node through Redis.

Two nodes run on the same database and the same Redis. The node whose failure reaches a
limit refuses at once; the other learns of the block over the bus, so the tests wait (at most
a second) for it to refuse too. The shared Redis outlives the test
(failure counters live for the window), so every test uses random client keys, usernames and
forwarded addresses (both nodes trust the ASGI peer as a proxy), and never collides with
another test or run.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from redis.asyncio import Redis

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OrgFixture, basic, create_client
from tests.support.redis_servers import DEFAULT_REDIS

TOKEN = "/v3/oauth/token/generate"
SCOPES = "/v3/integrations/scopes"
SUBJECT_LIMIT = 3
ADDRESS_LIMIT = 5
WINDOW = 60


def random_address() -> str:
    return "10." + ".".join(str(secrets.randbelow(254) + 1) for _ in range(3))


@pytest.fixture
async def nodes(
    settings: Settings, database: Database, redis: Redis
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Nodes A and B: one database, one Redis, small limits."""
    shared = settings.model_copy(
        update={
            "redis_url": os.environ.get("KEYLOFT_TEST_REDIS_URL", DEFAULT_REDIS),
            "trusted_proxies": "127.0.0.1",
            "auth_failure_limit": SUBJECT_LIMIT,
            "auth_failure_ip_limit": ADDRESS_LIMIT,
            "auth_failure_window_seconds": WINDOW,
        }
    )
    runtimes: list[Runtime] = []
    clients: list[httpx.AsyncClient] = []
    try:
        for _ in range(2):
            rt = await build_runtime(shared, database=database)
            runtimes.append(rt)
            transport = httpx.ASGITransport(app=create_app(runtime=rt), client=("127.0.0.1", 5555))
            clients.append(httpx.AsyncClient(transport=transport, base_url=BASE_URL))
        yield clients[0], clients[1]
    finally:
        for client in clients:
            await client.aclose()
        for rt in runtimes:
            await rt.stop()
            if rt.redis is not None:
                await rt.redis.aclose()


async def refuses_soon(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """The first 429 within a second; the block may take the bus's latency to arrive."""
    deadline = time.monotonic() + 1.0
    while True:
        response = await call()
        if response.status_code == 429 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.01)


def assert_too_many(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    (entry,) = response.json()["errors"]
    assert entry["code"] == 4290
    assert 0 < entry["retryAfter"] <= WINDOW
    assert response.headers["Retry-After"] == str(entry["retryAfter"])


async def token_call(
    http: httpx.AsyncClient, key: str, secret: str, address: str
) -> httpx.Response:
    return await http.post(
        TOKEN, json={"key": key, "secret": secret}, headers={"X-Forwarded-For": address}
    )


async def test_client_key_failures_on_one_node_block_on_the_other(
    nodes: tuple[httpx.AsyncClient, httpx.AsyncClient], org: OrgFixture
) -> None:
    node_a, node_b = nodes
    created = await create_client(node_a, org)
    key, secret = created["clientKey"], created["clientSecret"]
    ok = await token_call(node_b, key, secret, random_address())
    assert ok.status_code == 200, ok.text
    for _ in range(SUBJECT_LIMIT):
        # A different address each time: only the key's own counter reaches its limit.
        refused = await token_call(node_a, key, "wrong", random_address())
        assert refused.status_code == 401, refused.text
    assert_too_many(await token_call(node_a, key, secret, random_address()))
    assert_too_many(await refuses_soon(lambda: token_call(node_b, key, secret, random_address())))


async def test_login_failures_on_one_node_block_on_the_other(
    nodes: tuple[httpx.AsyncClient, httpx.AsyncClient], org: OrgFixture
) -> None:
    node_a, node_b = nodes
    username = "ghost-" + secrets.token_hex(8)
    for _ in range(SUBJECT_LIMIT):
        headers = basic(username, "wrong") | {"X-Forwarded-For": random_address()}
        refused = await node_a.get(SCOPES, headers=headers)
        assert refused.status_code == 401, refused.text
    headers = basic(username, "wrong") | {"X-Forwarded-For": random_address()}
    assert_too_many(await node_a.get(SCOPES, headers=headers))
    assert_too_many(await refuses_soon(lambda: node_b.get(SCOPES, headers=headers)))
    admin = await node_b.get(SCOPES, headers=org.auth | {"X-Forwarded-For": random_address()})
    assert admin.status_code == 200, admin.text


async def test_address_failures_add_up_across_nodes(
    nodes: tuple[httpx.AsyncClient, httpx.AsyncClient], org: OrgFixture
) -> None:
    node_a, node_b = nodes
    created = await create_client(node_a, org)
    address = random_address()
    for n in range(ADDRESS_LIMIT):
        refused = await token_call(
            (node_a, node_b)[n % 2], "k" + secrets.token_hex(12), "wrong", address
        )
        assert refused.status_code == 401, refused.text
    # Neither node alone saw 5 failures from this address; together they did.
    for http in (node_a, node_b):
        assert_too_many(
            await refuses_soon(
                lambda http=http: token_call(
                    http, created["clientKey"], created["clientSecret"], address
                )
            )
        )
    ok = await token_call(node_b, created["clientKey"], created["clientSecret"], random_address())
    assert ok.status_code == 200, ok.text

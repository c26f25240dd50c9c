"""PostgreSQL unreachable: requests that need the store answer 503 at once, never 500, and the
node recovers by itself when the database returns, losing no acknowledged write.

The node reaches the test database through a TCP proxy the test can cut (connections reset)
or stall (a black hole: nothing forwarded, nothing reset). The schema and signing key are
set up over the direct connection by the shared ``database`` fixture.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from keyloft.storage.store import Database
from tests.integration.proxied import BOUNDED, ProxiedNode, proxied_node
from tests.support.api import OrgFixture, client_body, create_client, make_org, mint
from tests.support.waiting import eventually

CLIENTS = "/v3/integrations/clients"
TOKEN = "/v3/oauth/token/generate"
# A request that needs the store must answer within this while the store is away.
# Lets a client token read the client list (entity 2 holds /v3/integrations/...).
READ_CLIENTS = [{"entityId": 2, "permission": "READWRITE", "resources": []}]


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only: the proxy stands in front of a TCP server."""
    return postgres_url


@pytest.fixture
async def node(settings: Settings, database: Database) -> AsyncIterator[ProxiedNode]:
    async with proxied_node(settings) as proxied:
        yield proxied


@dataclass
class Timed:
    response: httpx.Response
    seconds: float


async def timed(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Timed:
    """The request and how long it took; a request that hangs fails the test instead."""
    started = time.monotonic()
    try:
        response = await asyncio.wait_for(http.request(method, url, **kwargs), 3 * BOUNDED)
    except TimeoutError:
        pytest.fail(f"{method} {url} still unanswered after {3 * BOUNDED} s")
    return Timed(response, time.monotonic() - started)


def assert_store_unavailable(outcome: Timed, what: str) -> None:
    response = outcome.response
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text}"
    body = response.json()
    assert body["data"] is None, what
    assert [error["code"] for error in body["errors"]] == [5030], what
    assert int(response.headers["Retry-After"]) >= 1, what
    assert outcome.seconds < BOUNDED, f"{what} took {outcome.seconds:.1f} s"


async def client_names(http: httpx.AsyncClient, org: OrgFixture) -> list[str]:
    response = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    assert response.status_code == 200, response.text
    return [client["name"] for client in response.json()["data"]]


async def list_ok(http: httpx.AsyncClient, org: OrgFixture) -> bool:
    return (await http.get(CLIENTS, headers=org.auth)).status_code == 200


async def requests_needing_the_store(
    http: httpx.AsyncClient, org: OrgFixture, unminted: dict[str, Any], token: str, tag: str
) -> dict[str, Timed]:
    """One of each kind of request that cannot be answered without the database."""
    return {
        # A login this node has not verified yet: its principal must be read.
        "basic list": await timed(http, "GET", CLIENTS, headers=org.tills[0].headers),
        "basic create": await timed(
            http, "POST", CLIENTS, json=client_body(org, name=f"{tag}-create"), headers=org.auth
        ),
        "mint of an uncached client": await timed(
            http,
            "POST",
            TOKEN,
            json={"key": unminted["clientKey"], "secret": unminted["clientSecret"]},
        ),
        "token call": await timed(
            http,
            "GET",
            CLIENTS,
            params={"name": "before"},  # a filtered list is always read from the store
            headers={"X-CAP-API-OAUTH-TOKEN": token},
        ),
        "basic get": await timed(
            http, "GET", f"{CLIENTS}/{unminted['clientKey']}", headers=org.auth
        ),
    }


async def _outage_and_recovery(node: ProxiedNode, database: Database, *, stall: bool) -> None:
    http = node.http
    org = await make_org(database, "Acme")
    acknowledged = [
        await create_client(http, org, name=f"before-{n}", scopes=READ_CLIENTS) for n in range(3)
    ]
    token = await mint(http, acknowledged[0]["clientKey"], acknowledged[0]["clientSecret"])
    used = await http.get(CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token})
    assert used.status_code == 200, used.text
    unminted = acknowledged[1]

    if stall:
        node.proxy.stall()
    else:
        node.proxy.cut()

    outcomes = await requests_needing_the_store(http, org, unminted, token, "during")
    for what, outcome in outcomes.items():
        assert_store_unavailable(outcome, what)
    # What the node holds is still answered: the token's own client list, read before, and
    # the same list for the admin whose login this node verified before.
    held = await http.get(CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token})
    assert held.status_code == 200, held.text
    assert held.json() == used.json()
    held_by_login = await http.get(CLIENTS, headers=org.auth)
    assert held_by_login.status_code == 200, held_by_login.text
    assert held_by_login.json() == used.json()
    ready = await timed(http, "GET", "/health/ready")
    assert ready.response.status_code == 503
    assert ready.response.json()["store"] == "down"
    assert ready.seconds < BOUNDED
    live = await http.get("/health/live")
    assert live.status_code == 200

    node.proxy.restore()
    recovered = await eventually(lambda: list_ok(http, org), within=BOUNDED)
    assert recovered < BOUNDED

    # Every kind of request works again, several times over, without rebuilding anything:
    # pooled connections broken by the outage were discarded when they failed (the requests
    # during the outage), and the pool opens new ones.
    for round_ in range(3):
        outcomes = await requests_needing_the_store(http, org, unminted, token, f"after{round_}")
        for what, outcome in outcomes.items():
            assert outcome.response.status_code == 200, f"{what}: {outcome.response.text}"
    ready = await http.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["store"] == "up"

    names = await client_names(http, org)
    assert {client["name"] for client in acknowledged} <= set(names)
    assert "during-create" not in names
    assert sorted(names) == sorted(
        [c["name"] for c in acknowledged] + [f"after{n}-create" for n in range(3)]
    )


async def test_cut_database_answers_503_and_recovers(node: ProxiedNode, database: Database) -> None:
    await _outage_and_recovery(node, database, stall=False)


async def test_silent_database_answers_503_within_bounds_and_recovers(
    node: ProxiedNode, database: Database
) -> None:
    await _outage_and_recovery(node, database, stall=True)


async def test_ready_and_live_while_cut(node: ProxiedNode, database: Database) -> None:
    await make_org(database, "Acme")
    node.proxy.cut()
    ready = await node.http.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "store": "down",
        "redis": "off",
        "clientCache": True,
    }
    assert ready.headers["Cache-Control"] == "no-store"
    assert (await node.http.get("/health/live")).json() == {"status": "ok"}
    node.proxy.restore()
    await eventually(lambda: _status(node.http, "/health/ready", 200), within=BOUNDED)


async def _status(http: httpx.AsyncClient, url: str, expected: int) -> bool:
    return (await http.get(url)).status_code == expected

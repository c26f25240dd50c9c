"""Operator changes to admins, Tills and orgs reach every node: two nodes (each its own engine)
on one database, changed through the command line's own unit of work (``with_services``: the
operator services, commit, announce), on SQLite and PostgreSQL, with and without Redis.

With Redis, and on SQLite without it (each node watches the database file), the other node
refuses the old credentials within 1 s. On PostgreSQL without Redis nothing tells the other
node: it serves its copy of the login until that expires, after at most
``KEYLOFT_CLIENT_CACHE_SECONDS`` (the backstop, shortened here). Console sessions read the
store on every page, so they end at once on every node.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from keyloft.cli.work import with_services
from keyloft.config import Settings
from keyloft.domain.actors import PrincipalKind
from keyloft.runtime import Runtime, build_runtime
from keyloft.services.clock import SystemClock
from keyloft.services.operators import OperatorServices
from keyloft.services.orgs import OrgService
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import (
    BASE_URL,
    OPERATOR,
    OrgFixture,
    basic,
    create_client,
    make_org,
    mint,
)
from tests.support.console import CLIENTS, SIGN_IN, sign_in
from tests.support.redis_servers import reachable_redis, redis_server
from tests.support.waiting import eventually

SCOPES = "/v3/integrations/scopes"
ADMIN, TILL = PrincipalKind.ADMIN_USER, PrincipalKind.TILL
BACKSTOP = 2.0  # KEYLOFT_CLIENT_CACHE_SECONDS of the nodes without a bus
MARGIN = 0.25  # polling and scheduling


@dataclass
class Node:
    rt: Runtime
    http: httpx.AsyncClient

    async def status(self, login: str, password: str) -> int:
        return (await self.http.get(SCOPES, headers=basic(login, password))).status_code


@dataclass
class Nodes:
    a: Node
    b: Node
    settings: Settings
    bus: str
    """``redis``, ``watch`` (SQLite without Redis) or ``backstop`` (PostgreSQL without)."""

    @property
    def within(self) -> float:
        """How long the other node may take to see a change."""
        return BACKSTOP if self.bus == "backstop" else 1.0


@pytest.fixture(params=["redis", "no-redis"])
async def nodes(
    request: pytest.FixtureRequest, settings: Settings, database: Database
) -> AsyncIterator[Nodes]:
    update: dict[str, Any] = {
        # Polling with refused credentials must not reach the failed-login limits.
        "auth_failure_limit": 100_000,
        "auth_failure_ip_limit": 100_000,
        "client_cache_seconds": BACKSTOP,
    }
    if request.param == "redis":
        probe = await reachable_redis()  # skipped (failed under CI) when there is none
        await probe.aclose()
        update["redis_url"] = redis_server()
        bus = "redis"
    else:
        bus = "watch" if settings.is_sqlite else "backstop"
    shared = settings.model_copy(update=update)
    made: list[Node] = []
    try:
        for _ in range(2):
            rt = await build_runtime(shared, database=Database(create_engine(shared.database_url)))
            transport = httpx.ASGITransport(app=create_app(runtime=rt))
            made.append(Node(rt, httpx.AsyncClient(transport=transport, base_url=BASE_URL)))
        for node in made:
            assert node.rt.cache.enabled or bus == "redis"  # every variant caches logins
            if bus == "redis":
                await eventually(lambda n=node: n.rt.bus.healthy and n.rt.cache.enabled, 10)
        yield Nodes(made[0], made[1], shared, bus)
    finally:
        for node in made:
            await node.http.aclose()
            await node.rt.close()


async def operate(nodes: Nodes, work: Callable[[OperatorServices], Awaitable[Any]]) -> Any:
    """Run ``work`` as a ``keyloft`` command does (its own engine, commit, announce)."""
    return await asyncio.to_thread(with_services, nodes.settings, work)


async def warm(node: Node, login: str, password: str) -> None:
    """The node serves the login, from its copy: a refusal later is news, not a first read."""
    for _ in range(2):
        assert await node.status(login, password) == 200
    assert node.rt.cache.login(login) is not None


async def refused_within(node: Node, login: str, password: str, nodes: Nodes, what: str) -> float:
    async def refused() -> bool:
        return await node.status(login, password) == 401

    took = await eventually(refused, within=nodes.within + MARGIN)
    assert took <= nodes.within + MARGIN
    print(f"{what}: refused on the other node after {took * 1000:.0f} ms ({nodes.bus})")
    return took


@pytest.mark.parametrize("command", ["disable", "delete", "passwd"])
async def test_an_admins_old_credentials_are_refused_on_the_other_node(
    nodes: Nodes, database: Database, command: str
) -> None:
    org = await make_org(database, f"Leavers {command}")
    admin = org.admin
    await warm(nodes.b, admin.code, admin.password)

    async def change(services: OperatorServices) -> str | None:
        principals = services.principals
        if command == "disable":
            await principals.disable(org.id, ADMIN, admin.code)
        elif command == "delete":
            await principals.delete(org.id, ADMIN, admin.code)
        else:
            return (await principals.set_password(org.id, ADMIN, admin.code))[1]
        return None

    new_password = await operate(nodes, change)
    if nodes.bus == "backstop":
        # No bus: the other node serves its copy until it expires.
        assert await nodes.b.status(admin.code, admin.password) == 200
    await refused_within(nodes.b, admin.code, admin.password, nodes, f"admin {command}")
    assert await nodes.a.status(admin.code, admin.password) == 401
    if new_password is not None:
        assert await nodes.b.status(admin.code, new_password) == 200
        assert await nodes.a.status(admin.code, new_password) == 200


async def test_an_enabled_admin_is_accepted_again_on_the_other_node(
    nodes: Nodes, database: Database
) -> None:
    org = await make_org(database, "Returners")
    admin = org.admin
    await warm(nodes.b, admin.code, admin.password)
    await operate(nodes, lambda s: s.principals.disable(org.id, ADMIN, admin.code))
    await refused_within(nodes.b, admin.code, admin.password, nodes, "admin disable")
    await operate(nodes, lambda s: s.principals.enable(org.id, ADMIN, admin.code))

    async def accepted() -> bool:
        return await nodes.b.status(admin.code, admin.password) == 200

    took = await eventually(accepted, within=nodes.within + MARGIN)
    print(f"admin enable: accepted on the other node after {took * 1000:.0f} ms ({nodes.bus})")


async def test_a_disabled_till_is_refused_and_not_acted_as_on_the_other_node(
    nodes: Nodes, database: Database
) -> None:
    org = await make_org(database, "Tills Off")
    till = org.tills[0]
    client = await create_client(
        nodes.a.http,
        org,
        defaultTillId=till.id,
        scopes=[{"entityId": 2, "permission": "READ", "resources": []}],
    )
    token = await mint(nodes.a.http, client["clientKey"], client["clientSecret"])

    async def decision() -> dict[str, Any]:
        answer = await nodes.b.http.post(
            "/v3/oauth/check", json={"token": token, "method": "GET", "path": SCOPES}
        )
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data

    assert (await decision())["allowed"] is True
    await warm(nodes.b, till.code, till.password)
    await operate(nodes, lambda s: s.principals.disable(org.id, TILL, till.code))
    await refused_within(nodes.b, till.code, till.password, nodes, "till disable")

    async def not_acted_as() -> bool:
        return (await decision())["reason"] == "unknown_till"

    await eventually(not_acted_as, within=nodes.within + MARGIN)


async def test_console_sessions_end_on_every_node_at_once(nodes: Nodes, database: Database) -> None:
    org = await make_org(database, "Sessions")
    admin = org.admin
    await sign_in(nodes.b.http, admin)
    await sign_in(nodes.a.http, admin)
    kept = nodes.b.http.cookies["keyloft_console"]
    await operate(nodes, lambda s: s.principals.disable(org.id, ADMIN, admin.code))
    for node in (nodes.a, nodes.b):
        ended = await node.http.get(CLIENTS)
        assert ended.status_code == 303
        assert ended.headers["location"] == f"{SIGN_IN}?ended=expired"
    # Enabled again, the admin signs in afresh; the sessions from before stay ended.
    await operate(nodes, lambda s: s.principals.enable(org.id, ADMIN, admin.code))
    nodes.b.http.cookies.set("keyloft_console", kept, path="/console")
    assert (await nodes.b.http.get(CLIENTS)).status_code == 303
    nodes.b.http.cookies.clear()
    await sign_in(nodes.b.http, admin)


async def test_clients_of_a_deleted_admin_keep_their_attribution(
    nodes: Nodes, database: Database
) -> None:
    org = await make_org(database, "Attributed")
    other = await second_admin(database, org)
    client = await create_client(nodes.a.http, org)
    await operate(nodes, lambda s: s.principals.delete(org.id, ADMIN, org.admin.code))
    for node in (nodes.a, nodes.b):
        read = await node.http.get(
            f"/v3/integrations/clients/{client['clientKey']}", headers=basic(*other)
        )
        assert read.status_code == 200, read.text
        assert read.json()["data"]["attribution"] == client["attribution"]
        assert client["attribution"]["createdBy"]["code"] == org.admin.code


async def test_an_orgs_new_time_zone_reaches_the_other_node(
    nodes: Nodes, database: Database
) -> None:
    org = await make_org(database, "Zoned", timezone="Asia/Kolkata")
    client = await create_client(nodes.a.http, org)

    async def created_on() -> str:
        listed = await nodes.b.http.get("/v3/integrations/clients", headers=org.auth)
        assert listed.status_code == 200, listed.text
        (only,) = listed.json()["data"]
        zoned: str = only["attribution"]["createdOn"]
        return zoned

    assert (await created_on()).endswith("+0530")
    assert client["attribution"]["createdOn"].endswith("+0530")

    async def change(services: OperatorServices) -> None:
        await services.org_settings.update(org.id, ttl_ceiling=86_400, timezone="UTC")

    await operate(nodes, change)

    async def in_utc() -> bool:
        return (await created_on()).endswith("+0000")

    took = await eventually(in_utc, within=nodes.within + MARGIN)
    print(f"org update: seen on the other node after {took * 1000:.0f} ms ({nodes.bus})")


async def second_admin(database: Database, org: OrgFixture) -> tuple[str, str]:
    """Another admin of ``org``: (login, password)."""
    async with database.unit_of_work(write=True) as store:
        made = await OrgService(store, SystemClock(), operator=OPERATOR).add_principal(
            org_id=org.id, kind=ADMIN, code=f"{org.name.lower()}-second", password="second-pass-1"
        )
    return made.principal.code, made.password

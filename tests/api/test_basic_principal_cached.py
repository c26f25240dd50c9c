"""A repeated Basic call is answered without reading its principal from the store, and a change
to the org's principals that the nodes are told of ends the cached login at once."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from keyloft.runtime import Runtime
from keyloft.services.ports import Changes
from keyloft.storage.store import Database
from keyloft.storage.tables import PrincipalRow
from tests.support.api import OrgFixture, Statements, basic

CLIENTS = "/v3/integrations/clients"


async def test_a_repeated_basic_call_runs_no_statement(
    http: httpx.AsyncClient, org: OrgFixture, statements: Statements
) -> None:
    first = await http.get(CLIENTS, headers=org.auth)
    assert first.status_code == 200, first.text
    assert any("principals" in s for s in statements.queries()), "the first call reads the login"

    statements.clear()
    again = await http.get(CLIENTS, headers=org.auth)
    assert again.status_code == 200
    assert again.content == first.content
    assert statements.seen == []


async def test_a_wrong_password_is_refused_with_the_login_cached(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    assert (await http.get(CLIENTS, headers=org.auth)).status_code == 200
    wrong = await http.get(CLIENTS, headers=basic(org.admin.code, org.admin.password + "x"))
    assert wrong.status_code == 401
    assert (await http.get(CLIENTS, headers=org.auth)).status_code == 200


async def test_a_deactivated_principal_is_refused_once_the_change_is_announced(
    http: httpx.AsyncClient, org: OrgFixture, database: Database, runtime: Runtime
) -> None:
    till = org.tills[0]
    assert (await http.get(CLIENTS, headers=org.auth)).status_code == 200
    assert (await http.get(CLIENTS, headers=till.headers)).status_code == 200
    async with database.engine.begin() as connection:
        await connection.execute(
            update(PrincipalRow).where(PrincipalRow.code == org.admin.code).values(is_active=False)
        )
    await runtime.bus.publish(Changes(orgs={org.id}))

    refused = await http.get(CLIENTS, headers=org.auth)
    assert refused.status_code == 401
    assert (await http.get(CLIENTS, headers=till.headers)).status_code == 200


async def test_another_orgs_change_keeps_the_login_cached(
    http: httpx.AsyncClient,
    org: OrgFixture,
    other_org: OrgFixture,
    runtime: Runtime,
    statements: Statements,
) -> None:
    assert (await http.get(CLIENTS, headers=org.auth)).status_code == 200
    await runtime.bus.publish(Changes(orgs={other_org.id}))
    statements.clear()
    assert (await http.get(CLIENTS, headers=org.auth)).status_code == 200
    assert not any("principals" in s for s in statements.queries())

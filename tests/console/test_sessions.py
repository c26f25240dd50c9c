"""Console sessions end: idle, too old, tampered with, or signed out (on every node)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import update

from keyloft.config import Settings
from keyloft.domain.passwords import hash_password
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.storage.tables import PrincipalRow
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OrgFixture
from tests.support.console import CLIENTS, ORIGIN, SIGN_IN, sign_in
from tests.unit.fakes import FakeClock


def signed_out(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith(SIGN_IN)


async def test_pages_need_a_session(http: httpx.AsyncClient) -> None:
    for path in (CLIENTS, "/console/clients/new", "/console/clients/anykey"):
        answer = await http.get(path)
        assert signed_out(answer), path
    answer = await http.post(
        "/console/clients/new", data={"name": "x", "csrf_token": "x"}, headers=ORIGIN
    )
    assert signed_out(answer)


async def test_a_tampered_cookie_is_no_session(http: httpx.AsyncClient, org: OrgFixture) -> None:
    await sign_in(http, org.admin)
    cookie = http.cookies["keyloft_console"]
    payload, _, mac = cookie.rpartition(".")
    http.cookies.clear()
    http.cookies.set("keyloft_console", f"{payload}.{mac[::-1]}", path="/console")
    assert signed_out(await http.get(CLIENTS))


async def test_an_idle_session_ends(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock, settings: Settings
) -> None:
    await sign_in(http, org.admin)
    clock.advance(settings.console_idle_seconds - 5)
    assert (await http.get(CLIENTS)).status_code == 200  # use restarts the idle clock
    clock.advance(settings.console_idle_seconds - 5)
    assert (await http.get(CLIENTS)).status_code == 200
    clock.advance(settings.console_idle_seconds + 1)
    answer = await http.get(CLIENTS)
    assert signed_out(answer)
    assert answer.headers["location"] == f"{SIGN_IN}?ended=expired"


async def test_a_session_ends_at_its_absolute_lifetime_however_busy(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock, settings: Settings
) -> None:
    await sign_in(http, org.admin)
    step = settings.console_idle_seconds - 60
    used = 0
    while used + step < settings.console_session_seconds:
        clock.advance(step)
        used += step
        assert (await http.get(CLIENTS)).status_code == 200
    clock.advance(settings.console_session_seconds - used + 1)
    assert signed_out(await http.get(CLIENTS))


async def test_a_password_change_or_removal_ends_the_session(
    http: httpx.AsyncClient, database: Database, org: OrgFixture
) -> None:
    await sign_in(http, org.admin)
    kept = http.cookies["keyloft_console"]
    async with database.unit_of_work(write=True) as store:
        await store.session.execute(
            update(PrincipalRow)
            .where(PrincipalRow.id == org.admin.id)
            .values(password_hash=hash_password("a-new-password-123"))
        )
    answer = await http.get(CLIENTS)
    assert signed_out(answer)
    assert answer.headers["location"] == f"{SIGN_IN}?ended=expired"

    till = org.tills[0]
    await sign_in(http, till)
    assert (await http.get(CLIENTS)).status_code == 200
    async with database.unit_of_work(write=True) as store:
        await store.session.execute(
            update(PrincipalRow).where(PrincipalRow.id == till.id).values(is_active=False)
        )
    assert signed_out(await http.get(CLIENTS))
    http.cookies.set("keyloft_console", kept, path="/console")
    assert signed_out(await http.get(CLIENTS))


async def test_the_session_principal_comes_from_the_caller_authentication(
    runtime: Runtime, org: OrgFixture
) -> None:
    def seal(password_hash: str) -> str:
        return "print-of-" + password_hash[-12:]

    callers = runtime.services.callers
    opened = await callers.principal_for_session(org.admin.code, seal, expected=None)
    assert opened is not None
    principal, current = opened
    assert principal.id == org.admin.id
    assert current.startswith("print-of-")
    again = await callers.principal_for_session(org.admin.code, seal, expected=current)
    assert again == opened
    stale = await callers.principal_for_session(
        org.admin.code, seal, expected="print-of-another-one"
    )
    assert stale is None
    assert await callers.principal_for_session("nobody", seal, expected=None) is None


async def sign_out(http: httpx.AsyncClient) -> httpx.Response:
    page = await http.get(CLIENTS)
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return await http.post("/console/sign-out", data={"csrf_token": token}, headers=ORIGIN)


async def test_sign_out_ends_the_session_even_for_a_kept_cookie(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    await sign_in(http, org.admin)
    kept = http.cookies["keyloft_console"]
    answer = await sign_out(http)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{SIGN_IN}?ended=signed-out"
    assert signed_out(await http.get(CLIENTS))
    http.cookies.set("keyloft_console", kept, path="/console")
    assert signed_out(await http.get(CLIENTS))


async def test_sign_out_needs_the_form_token(http: httpx.AsyncClient, org: OrgFixture) -> None:
    await sign_in(http, org.admin)
    answer = await http.post("/console/sign-out", data={}, headers=ORIGIN)
    assert answer.status_code == 403
    assert (await http.get(CLIENTS)).status_code == 200


@pytest.fixture
async def two_nodes(
    settings: Settings, database: Database, redis_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Nodes A and B sharing the database and Redis, as a scaled-out deployment."""
    shared = settings.model_copy(update={"redis_url": redis_url})
    runtimes: list[Runtime] = []
    clients: list[httpx.AsyncClient] = []
    try:
        for _ in range(2):
            rt = await build_runtime(shared, database=Database(create_engine(shared.database_url)))
            runtimes.append(rt)
            transport = httpx.ASGITransport(app=create_app(runtime=rt))
            clients.append(httpx.AsyncClient(transport=transport, base_url=BASE_URL))
        yield clients[0], clients[1]
    finally:
        for client in clients:
            await client.aclose()
        for rt in runtimes:
            await rt.close()


@pytest.mark.redis
async def test_sign_out_on_one_node_ends_the_session_on_another(
    two_nodes: tuple[httpx.AsyncClient, httpx.AsyncClient], org: OrgFixture
) -> None:
    a, b = two_nodes
    await sign_in(a, org.admin)
    cookie = a.cookies["keyloft_console"]
    b.cookies.set("keyloft_console", cookie, path="/console")
    assert (await b.get(CLIENTS)).status_code == 200
    assert (await sign_out(a)).status_code == 303
    assert signed_out(await b.get(CLIENTS))


async def test_several_workers_without_redis_refuse_sign_in(
    settings: Settings, database: Database, org: OrgFixture
) -> None:
    rt = await build_runtime(settings.model_copy(update={"workers": 2}), database=database)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=rt))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            form = await http.get(SIGN_IN)
            token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            answer = await http.post(
                SIGN_IN,
                data={"csrf_token": token, "username": org.admin.code, "password": "x" * 9},
                headers=ORIGIN,
            )
            assert answer.status_code == 503
            assert "KEYLOFT_REDIS_URL" in answer.text
            assert signed_out(await http.get(CLIENTS))
    finally:
        await rt.stop()

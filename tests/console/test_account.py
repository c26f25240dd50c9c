"""An admin changes their own password in the console: the current one is required (a wrong one
changes nothing and counts as a failed login), the session that changed it goes on, every
other session ends and the API refuses the old password; a Till has no such page. And sessions
of an account an operator disables, deletes or re-passwords end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from keyloft.domain.actors import PrincipalKind
from keyloft.runtime import build_runtime
from keyloft.services.audit import AuditService
from keyloft.services.clock import SystemClock
from keyloft.services.container import operator_services
from keyloft.services.operators import OperatorServices
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OPERATOR, Login, OrgFixture, basic
from tests.support.console import CLIENTS, ORIGIN, SIGN_IN, csrf_token, error_for, sign_in

ACCOUNT = "/console/account"
SCOPES = "/v3/integrations/scopes"
ADMIN = PrincipalKind.ADMIN_USER


@pytest.fixture
async def browsers(app: Any) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two browsers of the same admin (two sessions)."""
    made = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
        for _ in range(2)
    ]
    yield made[0], made[1]
    for browser in made:
        await browser.aclose()


async def change(
    http: httpx.AsyncClient, current: str, new: str, repeat: str | None = None
) -> httpx.Response:
    page = await http.get(ACCOUNT)
    assert page.status_code == 200, page.text
    return await http.post(
        f"{ACCOUNT}/password",
        data={
            "csrf_token": csrf_token(page.text),
            "current": current,
            "password": new,
            "repeat": new if repeat is None else repeat,
        },
        headers=ORIGIN,
    )


async def api_status(http: httpx.AsyncClient, login: str, password: str) -> int:
    return (await http.get(SCOPES, headers=basic(login, password))).status_code


async def stored_hash(database: Database, code: str) -> str:
    async with database.unit_of_work(write=False) as store:
        found = await store.principals.credentials(code)
    assert found is not None
    return found[1]


async def test_an_admin_changes_their_password(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient],
    http: httpx.AsyncClient,
    org: OrgFixture,
    database: Database,
) -> None:
    mine, other = browsers
    admin = org.admin
    await sign_in(mine, admin)
    await sign_in(other, admin)
    answer = await change(mine, admin.password, "a-brand-new-password")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{ACCOUNT}?done=changed"
    done = await mine.get(answer.headers["location"])
    assert done.status_code == 200
    assert "Your password was changed" in done.text
    # This session goes on; the other one has ended.
    assert (await mine.get(CLIENTS)).status_code == 200
    ended = await other.get(CLIENTS)
    assert ended.status_code == 303
    assert ended.headers["location"] == f"{SIGN_IN}?ended=expired"
    # The API: the old password refused, the new one accepted.
    assert await api_status(http, admin.code, admin.password) == 401
    assert await api_status(http, admin.code, "a-brand-new-password") == 200
    async with database.unit_of_work(write=False) as store:
        page = await AuditService(store).find(org.id, action="admin.password")
    (event,) = page.events
    assert event.actor is not None
    assert event.actor.id == admin.id
    assert event.changes == {"password": ["replaced", "chosen"]}
    assert event.context.request_id is not None
    assert "a-brand-new-password" not in repr(event)


@pytest.mark.parametrize(
    ("current", "new", "repeat", "field", "message", "status"),
    [
        pytest.param(
            "wrong-password", "a-new-password-1", None, "current", "is wrong", 401, id="wrong"
        ),
        pytest.param("{current}", "short", None, "password", "at least 8", 400, id="short"),
        pytest.param(
            "{current}",
            "a-new-password-1",
            "a-new-password-2",
            "repeat",
            "differ",
            400,
            id="repeat",
        ),
        pytest.param("{current}", "{current}", None, "password", "differ from", 400, id="same"),
    ],
)
async def test_a_refused_change_changes_nothing(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient],
    http: httpx.AsyncClient,
    org: OrgFixture,
    database: Database,
    current: str,
    new: str,
    repeat: str | None,
    field: str,
    message: str,
    status: int,
) -> None:
    mine, other = browsers
    admin = org.admin
    await sign_in(mine, admin)
    await sign_in(other, admin)
    before = await stored_hash(database, admin.code)
    fill = {"current": admin.password}
    answer = await change(
        mine,
        current.format(**fill),
        new.format(**fill),
        None if repeat is None else repeat.format(**fill),
    )
    assert answer.status_code == status
    shown = error_for(answer.text, field)
    assert shown is not None, answer.text
    assert message in shown
    assert admin.password not in answer.text
    assert await stored_hash(database, admin.code) == before
    for browser in (mine, other):
        assert (await browser.get(CLIENTS)).status_code == 200
    assert await api_status(http, admin.code, admin.password) == 200


async def test_wrong_current_passwords_count_as_failed_logins(
    settings: Settings, database: Database, org: OrgFixture
) -> None:
    rt = await build_runtime(
        settings.model_copy(update={"auth_failure_limit": 2}), database=database
    )
    before = await stored_hash(database, org.admin.code)
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=rt))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as browser:
            await sign_in(browser, org.admin)
            for _ in range(2):
                assert (await change(browser, "wrong-one", "a-new-password-1")).status_code == 401
            blocked = await change(browser, org.admin.password, "a-new-password-1")
            assert blocked.status_code == 429
            assert int(blocked.headers["Retry-After"]) > 0
            basic_login = await browser.get(SCOPES, headers=org.auth)
            assert basic_login.status_code == 429
    finally:
        await rt.stop()
    assert await stored_hash(database, org.admin.code) == before


async def test_a_till_has_no_password_page(
    http: httpx.AsyncClient, org: OrgFixture, database: Database
) -> None:
    till = org.tills[0]
    token = await sign_in(http, till)
    page = await http.get(CLIENTS)
    assert f'href="{ACCOUNT}"' not in page.text
    assert (await http.get(ACCOUNT)).status_code == 403
    before = await stored_hash(database, till.code)
    refused = await http.post(
        f"{ACCOUNT}/password",
        data={
            "csrf_token": token,
            "current": till.password,
            "password": "a-new-password-1",
            "repeat": "a-new-password-1",
        },
        headers=ORIGIN,
    )
    assert refused.status_code == 403
    assert await stored_hash(database, till.code) == before


async def test_the_admins_pages_link_to_the_password_page(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    await sign_in(http, org.admin)
    assert f'href="{ACCOUNT}"' in (await http.get(CLIENTS)).text


@pytest.mark.parametrize("command", ["disable", "delete", "passwd"])
async def test_an_operator_change_ends_the_accounts_sessions(
    http: httpx.AsyncClient, database: Database, org: OrgFixture, command: str
) -> None:
    admin: Login = org.admin
    await sign_in(http, admin)
    kept = http.cookies["keyloft_console"]

    async def work(services: OperatorServices) -> object:
        accounts = services.principals
        if command == "passwd":
            return await accounts.set_password(org.id, ADMIN, admin.code)
        if command == "disable":
            return await accounts.disable(org.id, ADMIN, admin.code)
        return await accounts.delete(org.id, ADMIN, admin.code)

    async with database.unit_of_work(write=True) as store:
        await work(operator_services(store, SystemClock(), OPERATOR))
    ended = await http.get(CLIENTS)
    assert ended.status_code == 303
    assert ended.headers["location"] == f"{SIGN_IN}?ended=expired"
    http.cookies.clear()
    http.cookies.set("keyloft_console", kept, path="/console")
    assert (await http.get(CLIENTS)).status_code == 303

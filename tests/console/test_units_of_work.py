"""Each console page reads (and changes) what it shows in one unit of work, beside the one
that re-checks who is signed in; a change the rules refuse rolls back and shows its page."""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from keyloft.storage.store import Database, LazyStore
from tests.support.api import OrgFixture
from tests.support.console import CLIENTS, ORIGIN, client_form, field_value, sign_in


@pytest.fixture
def units(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each unit of work the node opens from now on writes."""
    opened: list[bool] = []
    real = database.lazy_unit_of_work

    def counted(*, write: bool) -> AbstractAsyncContextManager[LazyStore]:
        opened.append(write)
        return real(write=write)

    monkeypatch.setattr(database, "lazy_unit_of_work", counted)
    return opened


@pytest.fixture
async def signed_in(http: httpx.AsyncClient, org: OrgFixture) -> str:
    """The CSRF token of the admin's new session."""
    return await sign_in(http, org.admin)


async def test_each_page_is_one_unit_of_work(
    http: httpx.AsyncClient, org: OrgFixture, signed_in: str, units: list[bool]
) -> None:
    token = signed_in
    read, write = [False, False], [False, True]  # the session check, then the page

    async def opened(method: str, path: str, status: int, **kwargs: object) -> list[bool]:
        units.clear()
        answer = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
        assert answer.status_code == status, answer.text
        return list(units)

    form = client_form(org.tills[0].id, token)
    assert await opened("GET", CLIENTS, 200) == read
    assert await opened("GET", f"{CLIENTS}/new", 200) == read
    refused = form | {"expirationTokenTime": "soon"}
    assert await opened("POST", f"{CLIENTS}/new", 400, data=refused, headers=ORIGIN) == write

    units.clear()
    created = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert created.status_code == 200
    assert units == write
    key = re.search(r'<code id="client-key">([^<]+)</code>', created.text)
    assert key is not None
    path = f"{CLIENTS}/{key.group(1)}"

    assert await opened("GET", path, 200) == read
    assert await opened("GET", f"{path}/delete", 200) == read
    assert await opened("GET", f"{CLIENTS}/nobody", 404) == read
    etag = field_value((await http.get(path)).text, "etag")
    saved = form | {"etag": etag, "name": "renamed"}
    assert await opened("POST", path, 303, data=saved, headers=ORIGIN) == write
    stale = form | {"etag": etag}
    assert await opened("POST", path, 412, data=stale, headers=ORIGIN) == write
    bad_grace = {"csrf_token": token, "graceSeconds": "soon"}
    assert await opened("POST", f"{path}/secret", 400, data=bad_grace, headers=ORIGIN) == read
    grace = {"csrf_token": token, "graceSeconds": "60"}
    assert await opened("POST", f"{path}/secret", 200, data=grace, headers=ORIGIN) == write
    only_token = {"csrf_token": token}
    ended = await opened("POST", f"{path}/secret/previous", 303, data=only_token, headers=ORIGIN)
    assert ended == write
    assert await opened("POST", f"{path}/delete", 303, data=only_token, headers=ORIGIN) == write


async def test_a_refused_change_stores_nothing_and_shows_the_page_as_it_stands(
    http: httpx.AsyncClient, org: OrgFixture, signed_in: str
) -> None:
    form = client_form(org.tills[0].id, signed_in)
    first = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    second = await http.post(f"{CLIENTS}/new", data=form | {"name": "taken"}, headers=ORIGIN)
    assert first.status_code == second.status_code == 200
    key = re.search(r'<code id="client-key">([^<]+)</code>', first.text)
    assert key is not None
    path = f"{CLIENTS}/{key.group(1)}"
    etag = field_value((await http.get(path)).text, "etag")

    clash = form | {"etag": etag, "name": "taken", "expirationTokenTime": "900"}
    answer = await http.post(path, data=clash, headers=ORIGIN)
    assert answer.status_code == 409
    # The form holds what was posted; the client's facts, what stands.
    assert field_value(answer.text, "name") == "taken"
    assert field_value(answer.text, "expirationTokenTime") == "900"
    assert "<h1>orders-sync</h1>" in answer.text
    page = await http.get(path)
    assert field_value(page.text, "etag") == etag
    assert field_value(page.text, "name") == "orders-sync"
    assert field_value(page.text, "expirationTokenTime") == "600"

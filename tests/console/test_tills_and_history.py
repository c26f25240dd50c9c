"""The org's Tills as the default-Till choices (repository, service and pages), each client's
last use, its history of changes, and the answer when the store cannot be reached."""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape
from pathlib import Path

import httpx
from sqlalchemy import update

from keyloft.domain.actors import Actor, PrincipalKind
from keyloft.runtime import Runtime
from keyloft.services.clients import ClientService
from keyloft.services.clock import SystemClock
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.storage.tables import PrincipalRow
from keyloft.web.console.pages import when
from tests.console.page_text import history
from tests.support.api import OrgFixture, create_client, make_org, mint
from tests.support.console import (
    CLIENTS,
    ORIGIN,
    SIGN_IN,
    client_form,
    error_for,
    field_value,
    sign_in,
)

API = "/v3/integrations/clients"


def till_choices(html: str) -> list[tuple[str, str, bool]]:
    """The default-Till select's options as (value, label, selected)."""
    found = re.search(r'<select id="defaultTillId"[^>]*>(.*?)</select>', html, re.S)
    assert found is not None, "no default-Till select in page"
    return [
        (value, unescape(label), bool(selected))
        for value, selected, label in re.findall(
            r'<option value="([^"]*)"( selected)?>([^<]*)</option>', found.group(1)
        )
    ]


def row_of(html: str, key: str) -> str:
    """The clients table's row of the client with this key."""
    found = re.search(
        rf"<tr data-search=\"[^\"]*{re.escape(key.lower())}[^\"]*\">(.*?)</tr>", html, re.S
    )
    assert found is not None, f"no row for {key}"
    return found.group(1)


def cell(row: str, label: str) -> list[str]:
    """The words of a row's cell."""
    found = re.search(rf'data-label="{re.escape(label)}"><div>(.*?)</div>', row, re.S)
    assert found is not None, f"no {label} cell"
    return unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split()


# --- the org's Tills ----------------------------------------------------------------------


async def test_the_repository_lists_an_orgs_active_tills_in_id_order(
    database: Database, org: OrgFixture, other_org: OrgFixture
) -> None:
    async with database.unit_of_work(write=True) as store:
        tills = await store.principals.list_in_org(org.id, PrincipalKind.TILL)
        admins = await store.principals.list_in_org(org.id, PrincipalKind.ADMIN_USER)
        theirs = await store.principals.list_in_org(other_org.id, PrincipalKind.TILL)
        await store.session.execute(
            update(PrincipalRow).where(PrincipalRow.id == org.tills[0].id).values(is_active=False)
        )
    assert [till.id for till in tills] == [till.id for till in org.tills]
    assert [till.code for till in tills] == ["acme.till.1", "acme.till.2"]
    assert all(till.org_id == org.id and till.kind is PrincipalKind.TILL for till in tills)
    assert [admin.id for admin in admins] == [org.admin.id]
    assert [till.id for till in theirs] == [till.id for till in other_org.tills]
    async with database.unit_of_work(write=False) as store:
        left = await store.principals.list_in_org(org.id, PrincipalKind.TILL)
        assert [till.id for till in left] == [org.tills[1].id]
        assert await store.principals.list_in_org(10**9, PrincipalKind.TILL) == []


async def test_the_service_offers_the_actors_org_tills(
    database: Database, org: OrgFixture, other_org: OrgFixture, runtime: Runtime
) -> None:
    async with database.unit_of_work(write=False) as store:
        admin = await store.principals.get(org.admin.id)
        assert admin is not None
        tills = await ClientService(store, runtime.hasher, SystemClock()).tills(Actor(admin))
    assert [till.id for till in tills] == [till.id for till in org.tills]


async def test_the_create_form_offers_exactly_the_orgs_tills(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    await sign_in(http, org.admin)
    page = await http.get(f"{CLIENTS}/new")
    one, two = org.tills
    assert till_choices(page.text) == [
        ("", "Choose a Till", True),
        (str(one.id), f"Acme Till 1 (acme.till.1, #{one.id})", False),
        (str(two.id), f"Acme Till 2 (acme.till.2, #{two.id})", False),
    ]
    assert "Globex" not in page.text


async def test_a_signed_in_till_is_the_first_choice(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    await sign_in(http, org.tills[1])
    choices = till_choices((await http.get(f"{CLIENTS}/new")).text)
    assert [value for value, _, selected in choices if selected] == [str(org.tills[1].id)]
    assert [value for value, _, _ in choices] == [str(till.id) for till in org.tills]


async def test_an_org_without_tills_is_told_how_to_add_one(
    http: httpx.AsyncClient, database: Database
) -> None:
    bare = await make_org(database, "Initech")
    async with database.unit_of_work(write=True) as store:
        await store.session.execute(
            update(PrincipalRow)
            .where(PrincipalRow.org_id == bare.id, PrincipalRow.kind == "TILL")
            .values(is_active=False)
        )
    token = await sign_in(http, bare.admin)
    page = await http.get(f"{CLIENTS}/new")
    assert till_choices(page.text) == [("", "Choose a Till", True)]
    assert "keyloft till create" in page.text
    form = client_form(bare.tills[0].id, token) | {"defaultTillId": ""}
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=ORIGIN)
    assert answer.status_code == 400
    assert error_for(answer.text, "defaultTillId") == "Choose the default Till."
    assert 'aria-invalid="true"' in answer.text
    listed = await http.get(API, params={"includeInvalid": "true"}, headers=bare.auth)
    assert listed.json()["data"] == []


async def test_the_edit_form_preselects_the_current_till_and_pages_name_it(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(http, org, defaultTillId=org.tills[1].id)
    key = created["clientKey"]
    await sign_in(http, org.admin)
    page = await http.get(f"{CLIENTS}/{key}")
    chosen = [value for value, _, selected in till_choices(page.text) if selected]
    assert chosen == [str(org.tills[1].id)]
    label = f"Acme Till 2 (acme.till.2, #{org.tills[1].id})"
    assert f"<dt>Default Till</dt><dd>{label}</dd>" in page.text
    listing = await http.get(CLIENTS)
    assert " ".join(cell(row_of(listing.text, key), "Default Till")) == label


async def test_a_till_since_removed_is_still_shown_as_the_current_choice(
    http: httpx.AsyncClient, database: Database, org: OrgFixture
) -> None:
    key = (await create_client(http, org))["clientKey"]
    gone = org.tills[0].id
    async with database.unit_of_work(write=True) as store:
        await store.session.execute(
            update(PrincipalRow).where(PrincipalRow.id == gone).values(is_active=False)
        )
    await sign_in(http, org.admin)
    page = await http.get(f"{CLIENTS}/{key}")
    assert till_choices(page.text) == [
        (str(org.tills[1].id), f"Acme Till 2 (acme.till.2, #{org.tills[1].id})", False),
        (str(gone), f"Till #{gone} (not a Till of this org)", True),
    ]


# --- last use -----------------------------------------------------------------------------


async def test_last_use_is_shown_in_the_list_and_on_the_client_page(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(http, org)
    key = created["clientKey"]
    await sign_in(http, org.admin)
    assert cell(row_of((await http.get(CLIENTS)).text, key), "Last used") == ["never"]
    assert '<dd id="last-used">never</dd>' in (await http.get(f"{CLIENTS}/{key}")).text

    await mint(http, key, created["clientSecret"])
    used = (await http.get(f"{API}/{key}", headers=org.auth)).json()["data"]["lastUsedOn"]
    assert used is not None
    shown = when(datetime.strptime(used, "%Y-%m-%dT%H:%M:%S.%f%z"), org.timezone)
    assert shown.endswith("IST")  # the org's zone, Asia/Kolkata
    assert " ".join(cell(row_of((await http.get(CLIENTS)).text, key), "Last used")) == shown
    assert f'<dd id="last-used">{shown}</dd>' in (await http.get(f"{CLIENTS}/{key}")).text


# --- history ------------------------------------------------------------------------------


async def test_the_client_page_lists_its_latest_changes_with_field_names_only(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    pattern = ".*v1\\.1/secret-path/add"
    answer = await http.post(
        f"{CLIENTS}/new", data=client_form(org.tills[0].id, token), headers=ORIGIN
    )
    key = re.search(r'<code id="client-key">([^<]+)</code>', answer.text)
    assert key is not None
    path = f"{CLIENTS}/{key.group(1)}"
    etag = field_value((await http.get(path)).text, "etag")
    change = client_form(
        org.tills[1].id,
        token,
        ttl="900",
        access={1: "NONE", 2: "READ", 3: "READ"},
        resources={3: pattern},
    )
    saved = await http.post(path, data=change | {"etag": etag}, headers=ORIGIN)
    assert saved.status_code == 303
    rotated = await http.post(
        f"{path}/secret", data={"csrf_token": token, "graceSeconds": "60"}, headers=ORIGIN
    )
    assert rotated.status_code == 200

    page = (await http.get(path)).text
    rows = history(page)
    admin = f"{org.admin.code} (admin)"
    assert [row[1:3] for row in rows] == [
        ["Secret rotated client.secret.rotate", admin],
        ["Changed client.update", admin],
        ["Created client.create", admin],
    ]
    assert rows[0][3] == "previousSecretGraceSeconds"
    assert rows[1][3] == "defaultTillId, expirationTokenTime, scopes"
    # A new client records every field it starts with, the DPoP flag (false) among them.
    assert rows[2][3].startswith(
        "defaultTillId, description, dpopBoundAccessTokens, expirationTokenTime"
    )
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d IST", row[0]) for row in rows)
    table = page[
        page.index('<table id="history"') : page.index("</table>", page.index('id="history"'))
    ]
    for value in (pattern, "900", "Nightly order export", "60"):
        assert value not in table, value


async def test_the_history_shows_at_most_ten_events(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    key = (await create_client(http, org))["clientKey"]
    for _ in range(11):
        answer = await http.post(f"{API}/{key}/secret", json={"graceSeconds": 0}, headers=org.auth)
        assert answer.status_code == 200
    await sign_in(http, org.admin)
    rows = history((await http.get(f"{CLIENTS}/{key}")).text)
    assert len(rows) == 10
    assert all(row[1] == "Secret rotated client.secret.rotate" for row in rows)


# --- the store away -----------------------------------------------------------------------


async def test_pages_answer_an_html_503_when_the_store_is_away(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, tmp_path: Path
) -> None:
    token = await sign_in(http, org.admin)
    sign_in_form = await http.get(SIGN_IN)
    dead = Database(create_engine(f"sqlite:///{tmp_path}/missing/dir/keyloft.db"))
    live, runtime.database = runtime.database, dead
    try:
        answers = [
            await http.get(CLIENTS),
            await http.get(f"{CLIENTS}/new"),
            await http.post(
                f"{CLIENTS}/new", data=client_form(org.tills[0].id, token), headers=ORIGIN
            ),
            await http.post(
                SIGN_IN,
                data={
                    "csrf_token": re.findall(
                        r'name="csrf_token" value="([^"]+)"', sign_in_form.text
                    )[0],
                    "username": org.admin.code,
                    "password": org.admin.password,
                },
                headers=ORIGIN,
            ),
        ]
    finally:
        runtime.database = live
        await dead.dispose()
    for answer in answers:
        assert answer.status_code == 503, answer.request.url
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.headers["Retry-After"] == "1"
        assert answer.headers["Cache-Control"] == "no-store"
        assert "cannot reach its database right now" in answer.text
        assert "Traceback" not in answer.text
    listed = await http.get(API, params={"includeInvalid": "true"}, headers=org.auth)
    assert listed.json()["data"] == []
    assert (await http.get(CLIENTS)).status_code == 200  # back once the store is

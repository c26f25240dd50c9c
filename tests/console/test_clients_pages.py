"""The console's client pages: create with the secret shown once, change, rotate, delete;
validation errors next to their field with nothing stored; forms without their token refused;
another org's clients out of reach."""

from __future__ import annotations

import json
import re
import shlex
from html import unescape
from typing import Any

import httpx
import pytest

from tests.support.api import ISSUER, OrgFixture, create_client
from tests.support.console import CLIENTS, ORIGIN, client_form, error_for, field_value, sign_in

API = "/v3/integrations/clients"
JSON = {"Content-Type": "application/json"}  # as the command's -H sends


async def api_clients(http: httpx.AsyncClient, org: OrgFixture) -> list[dict[str, Any]]:
    answer = await http.get(API, params={"includeInvalid": "true"}, headers=org.auth)
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


async def api_client(http: httpx.AsyncClient, org: OrgFixture, key: str) -> dict[str, Any]:
    answer = await http.get(f"{API}/{key}", headers=org.auth)
    assert answer.status_code == 200
    data: dict[str, Any] = answer.json()["data"]
    return data


async def mint_status(http: httpx.AsyncClient, key: str, secret: str) -> int:
    answer = await http.post("/v3/oauth/token/generate", json={"key": key, "secret": secret})
    return answer.status_code


async def create(
    http: httpx.AsyncClient, org: OrgFixture, token: str, **form: Any
) -> tuple[str, str]:
    answer = await http.post(
        f"{CLIENTS}/new", data=client_form(org.tills[0].id, token, **form), headers=ORIGIN
    )
    assert answer.status_code == 200, answer.text
    key = re.search(r'<code id="client-key">([^<]+)</code>', answer.text)
    assert key is not None
    return key.group(1), _secret(answer)


def _secret(answer: httpx.Response) -> str:
    found = re.search(r'id="client-secret" class="secret" value="([^"]+)"', answer.text)
    assert found is not None
    return found.group(1)


async def test_created_client_secret_is_shown_once_and_works(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    answer = await http.post(
        f"{CLIENTS}/new", data=client_form(org.tills[0].id, token), headers=ORIGIN
    )
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert "shown only on this page" in answer.text
    secret = _secret(answer)
    (stored,) = await api_clients(http, org)
    key = stored["clientKey"]
    assert key in answer.text
    assert stored["name"] == "orders-sync"
    assert stored["expirationTokenTime"] == 600
    detail = await api_client(http, org, key)
    assert {(s["entityId"], s["permission"]) for s in detail["scopes"]} == {
        (1, "READWRITE"),
        (2, "READ"),
    }
    assert await mint_status(http, key, secret) == 200
    for path in (CLIENTS, f"{CLIENTS}/{key}", f"{CLIENTS}/{key}/delete"):
        page = await http.get(path)
        assert page.status_code == 200
        assert secret not in page.text, path
        assert page.headers["Cache-Control"] == "no-store"


async def test_pages_carry_strict_security_headers(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    for page in (await http.get("/console/sign-in"), await http.get(CLIENTS)):
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["Referrer-Policy"] == "same-origin"
        assert page.headers["Cache-Control"] == "no-store"
        assert "<script>" not in page.text  # no inline script: only the shipped file


async def test_assets_are_served_by_keyloft(http: httpx.AsyncClient) -> None:
    css = await http.get("/console/static/console.css")
    js = await http.get("/console/static/console.js")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]


@pytest.mark.parametrize(
    ("variant", "fields"),
    [
        ("no-token", {}),
        ("wrong-token", {"csrf_token": "forged"}),
        ("other-origin", {"origin": "https://evil.example"}),
        ("cross-site-fetch", {"sec-fetch-site": "cross-site"}),
    ],
)
async def test_a_form_post_without_its_token_or_from_elsewhere_is_refused(
    http: httpx.AsyncClient, org: OrgFixture, variant: str, fields: dict[str, str]
) -> None:
    token = await sign_in(http, org.admin)
    form = client_form(org.tills[0].id, token)
    headers = dict(ORIGIN)
    if variant == "no-token":
        del form["csrf_token"]
    elif variant == "wrong-token":
        form["csrf_token"] = fields["csrf_token"]
    elif variant == "other-origin":
        headers["Origin"] = fields["origin"]
    else:
        headers["Sec-Fetch-Site"] = fields["sec-fetch-site"]
    answer = await http.post(f"{CLIENTS}/new", data=form, headers=headers)
    assert answer.status_code == 403
    assert "clientSecret" not in answer.text
    assert await api_clients(http, org) == []


async def test_another_sessions_token_does_not_fit(
    http: httpx.AsyncClient, app: Any, org: OrgFixture, other_org: OrgFixture
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=str(http.base_url)) as other:
        foreign_token = await sign_in(other, other_org.admin)
    await sign_in(http, org.admin)
    answer = await http.post(
        f"{CLIENTS}/new", data=client_form(org.tills[0].id, foreign_token), headers=ORIGIN
    )
    assert answer.status_code == 403
    assert await api_clients(http, org) == []


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"name": " "}, "name", "name must not be blank."),
        ({"ttl": "7200"}, "expirationTokenTime", "between 1 and 3600 seconds"),
        ({"ttl": "ten"}, "expirationTokenTime", "whole number"),
        ({"access": {1: "READ", 2: "ALL"}}, "access-2", "must be one of READ, WRITE, READWRITE"),
        ({"resources": {1: "ok.*\n(a"}}, "resources-1", "resources"),
    ],
)
async def test_invalid_input_is_shown_next_to_its_field_and_nothing_is_stored(
    http: httpx.AsyncClient, org: OrgFixture, form: dict[str, Any], field: str, message: str
) -> None:
    token = await sign_in(http, org.admin)
    answer = await http.post(
        f"{CLIENTS}/new", data=client_form(org.tills[0].id, token, **form), headers=ORIGIN
    )
    assert answer.status_code == 400, answer.text
    shown = error_for(answer.text, field)
    assert shown is not None, answer.text
    assert message in shown
    assert f'id="{field}-error"' in answer.text
    assert await api_clients(http, org) == []
    # What was typed is kept for correcting it.
    assert field_value(answer.text, "name") == form.get("name", "orders-sync")


async def test_a_till_of_another_org_is_refused_as_default(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    answer = await http.post(
        f"{CLIENTS}/new", data=client_form(other_org.tills[0].id, token), headers=ORIGIN
    )
    assert answer.status_code == 400
    assert "is not a Till of this org" in (error_for(answer.text, "defaultTillId") or "")
    assert await api_clients(http, org) == []


async def test_a_taken_name_is_named(http: httpx.AsyncClient, org: OrgFixture) -> None:
    token = await sign_in(http, org.admin)
    await create(http, org, token)
    answer = await http.post(
        f"{CLIENTS}/new", data=client_form(org.tills[0].id, token), headers=ORIGIN
    )
    assert answer.status_code == 409
    assert "already exists" in (error_for(answer.text, "name") or "")
    assert len(await api_clients(http, org)) == 1


async def test_create_page_shows_the_cap_and_the_org_entities(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    await sign_in(http, org.admin)
    page = await http.get(f"{CLIENTS}/new")
    assert page.status_code == 200
    assert "at most 3600 seconds (1 hour)" in page.text
    for entity in ("TargetGroups", "All", "Transaction"):
        assert f"<legend>{entity}</legend>" in page.text
    assert page.text.count('value="NONE" checked') == 3
    assert '<label for="name">Name</label>' in page.text


async def test_editing_changes_what_the_api_shows(http: httpx.AsyncClient, org: OrgFixture) -> None:
    token = await sign_in(http, org.admin)
    key, secret = await create(http, org, token)
    page = await http.get(f"{CLIENTS}/{key}")
    etag = field_value(page.text, "etag")
    change = client_form(
        org.tills[1].id,
        token,
        name="orders-sync-2",
        ttl="900",
        access={1: "NONE", 2: "WRITE", 3: "READ"},
        resources={3: ".*v1\\.1/transaction/add"},
    )
    answer = await http.post(f"{CLIENTS}/{key}", data=change | {"etag": etag}, headers=ORIGIN)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{CLIENTS}/{key}?done=saved"
    detail = await api_client(http, org, key)
    assert detail["name"] == "orders-sync-2"
    assert detail["expirationTokenTime"] == 900
    assert detail["defaultTillId"] == org.tills[1].id
    assert sorted((s["entityId"], s["permission"], s["resources"]) for s in detail["scopes"]) == [
        (2, "WRITE", []),
        (3, "READ", [".*v1\\.1/transaction/add"]),
    ]
    assert "Changes saved." in (await http.get(answer.headers["location"])).text
    # The form's version is now stale: a second save of it is refused, nothing changes.
    stale = await http.post(
        f"{CLIENTS}/{key}", data=change | {"etag": etag, "name": "late"}, headers=ORIGIN
    )
    assert stale.status_code == 412
    assert "changed since you read it" in stale.text
    assert (await api_client(http, org, key))["name"] == "orders-sync-2"
    assert await mint_status(http, key, secret) == 200


async def test_an_invalid_edit_stores_nothing(http: httpx.AsyncClient, org: OrgFixture) -> None:
    token = await sign_in(http, org.admin)
    key, _ = await create(http, org, token)
    before = await api_client(http, org, key)
    answer = await http.post(
        f"{CLIENTS}/{key}",
        data=client_form(org.tills[0].id, token, ttl="0", name="renamed"),
        headers=ORIGIN,
    )
    assert answer.status_code == 400
    assert "between 1 and 3600" in (error_for(answer.text, "expirationTokenTime") or "")
    assert field_value(answer.text, "name") == "renamed"
    assert await api_client(http, org, key) == before


async def test_rotating_shows_the_new_secret_once(http: httpx.AsyncClient, org: OrgFixture) -> None:
    token = await sign_in(http, org.admin)
    key, old = await create(http, org, token)
    answer = await http.post(
        f"{CLIENTS}/{key}/secret",
        data={"csrf_token": token, "graceSeconds": "0"},
        headers=ORIGIN,
    )
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    new = _secret(answer)
    assert new != old
    assert await mint_status(http, key, new) == 200
    assert await mint_status(http, key, old) == 401
    assert new not in (await http.get(f"{CLIENTS}/{key}")).text


async def test_a_bad_grace_is_named_and_nothing_rotates(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    key, old = await create(http, org, token)
    answer = await http.post(
        f"{CLIENTS}/{key}/secret",
        data={"csrf_token": token, "graceSeconds": "9999999"},
        headers=ORIGIN,
    )
    assert answer.status_code == 400
    assert "graceSeconds must be between 0 and 604800" in (
        error_for(answer.text, "graceSeconds") or ""
    )
    assert await mint_status(http, key, old) == 200


async def test_deleting_names_the_client_and_stops_it(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    token = await sign_in(http, org.admin)
    key, secret = await create(http, org, token)
    confirm = await http.get(f"{CLIENTS}/{key}/delete")
    assert "Delete “orders-sync”?" in confirm.text
    client_page = await http.get(f"{CLIENTS}/{key}")
    assert "Delete “orders-sync”?" in client_page.text  # the dialog names it too
    answer = await http.post(
        f"{CLIENTS}/{key}/delete",
        data={"csrf_token": token, "etag": field_value(confirm.text, "etag")},
        headers=ORIGIN,
    )
    assert answer.status_code == 303
    assert (await api_client(http, org, key))["isValid"] is False
    assert await mint_status(http, key, secret) == 401
    listing = await http.get(CLIENTS)
    assert key not in listing.text
    with_deleted = await http.get(CLIENTS, params={"deleted": "1"})
    assert key in with_deleted.text
    assert "Deleted" in with_deleted.text


async def test_the_list_filters_by_text(http: httpx.AsyncClient, org: OrgFixture) -> None:
    token = await sign_in(http, org.admin)
    await create(http, org, token, name="orders-sync")
    await create(http, org, token, name="loyalty-feed")
    page = await http.get(CLIENTS, params={"q": "LOYAL"})
    assert "loyalty-feed" in page.text
    assert "orders-sync" not in page.text
    assert "1 of 2 clients" in page.text


def curl_body(html: str, element_id: str) -> tuple[str, str]:
    """The URL and the JSON body of the ``curl`` shown in ``element_id``, as a shell reads it."""
    found = re.search(rf'<pre id="{element_id}"><code>(.*?)</code></pre>', html, re.S)
    assert found is not None
    words = shlex.split(unescape(found.group(1)))
    assert words[:3] == ["curl", "-X", "POST"]
    assert words[words.index("-H") + 1] == "Content-Type: application/json"
    return words[3], words[words.index("-d") + 1]


async def test_the_curl_commands_mint_a_token(http: httpx.AsyncClient, org: OrgFixture) -> None:
    token = await sign_in(http, org.admin)
    answer = await http.post(
        f"{CLIENTS}/new", data=client_form(org.tills[0].id, token), headers=ORIGIN
    )
    secret = _secret(answer)
    url, body = curl_body(answer.text, "curl-secret")
    assert url == f"{ISSUER}/v3/oauth/token/generate"
    minted = await http.post(url.removeprefix(ISSUER), content=body.encode(), headers=JSON)
    assert minted.status_code == 200
    key = json.loads(body)["key"]
    page = await http.get(f"{CLIENTS}/{key}")
    url, body = curl_body(page.text, "curl")
    assert secret not in body
    # The shell fills in $CLIENT_SECRET inside the double quotes.
    filled = body.replace("$CLIENT_SECRET", secret)
    minted = await http.post(url.removeprefix(ISSUER), content=filled.encode(), headers=JSON)
    assert minted.status_code == 200


@pytest.mark.parametrize("who", ["admin", "till"])
async def test_another_orgs_client_is_out_of_reach(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture, who: str
) -> None:
    theirs = await create_client(http, other_org, name="theirs")
    key = theirs["clientKey"]
    before = await api_client(http, other_org, key)
    token = await sign_in(http, org.admin if who == "admin" else org.tills[0])
    for path in (f"{CLIENTS}/{key}", f"{CLIENTS}/{key}/delete"):
        page = await http.get(path)
        assert page.status_code == 404, path
        assert "theirs" not in page.text
    posts = [
        (f"{CLIENTS}/{key}", client_form(org.tills[0].id, token, name="hijack")),
        (f"{CLIENTS}/{key}/delete", {"csrf_token": token}),
        (f"{CLIENTS}/{key}/secret", {"csrf_token": token, "graceSeconds": "0"}),
        (f"{CLIENTS}/{key}/secret/previous", {"csrf_token": token}),
    ]
    for path, form in posts:
        answer = await http.post(path, data=form, headers=ORIGIN)
        assert answer.status_code == 404, path
        assert "theirs" not in answer.text
    assert key not in (await http.get(CLIENTS, params={"deleted": "1"})).text
    assert await api_client(http, other_org, key) == before


@pytest.mark.parametrize("grace", ["²", "٣", "1.5", "-1", "ten"])
async def test_a_grace_that_is_no_plain_number_is_named_and_nothing_rotates(
    http: httpx.AsyncClient, org: OrgFixture, grace: str
) -> None:
    """Digits of other scripts pass ``str.isdigit`` but are no number the form accepts."""
    token = await sign_in(http, org.admin)
    key, old = await create(http, org, token)
    answer = await http.post(
        f"{CLIENTS}/{key}/secret", data={"csrf_token": token, "graceSeconds": grace}, headers=ORIGIN
    )
    assert answer.status_code == 400
    assert "graceSeconds must be a whole number." in (error_for(answer.text, "graceSeconds") or "")
    assert await mint_status(http, key, old) == 200

"""Signing in to the console: the same credentials and failure limits as the API, a strict
session cookie, and forged sign-in forms refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from keyloft.config import Settings
from keyloft.runtime import build_runtime
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import OrgFixture
from tests.support.console import CLIENTS, ORIGIN, SIGN_IN, csrf_token, error_for, sign_in


async def attempt(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    form = await http.get(SIGN_IN)
    return await http.post(
        SIGN_IN,
        data={"csrf_token": csrf_token(form.text), "username": username, "password": password},
        headers=ORIGIN,
    )


async def test_sign_in_sets_a_strict_session_cookie(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    answer = await attempt(http, org.admin.code, org.admin.password)
    assert answer.status_code == 303
    cookie = next(
        value
        for value in answer.headers.get_list("set-cookie")
        if value.startswith("keyloft_console=")
    )
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/console" in attributes
    assert "secure" not in attributes  # plain HTTP here; see the TLS test below
    assert org.admin.password not in cookie
    page = await http.get(CLIENTS)
    assert page.status_code == 200
    assert "Acme" in page.text


async def test_session_cookie_is_secure_over_tls(app: object, org: OrgFixture) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://keyloft.test") as http:
        form = await http.get(SIGN_IN)
        answer = await http.post(
            SIGN_IN,
            data={
                "csrf_token": csrf_token(form.text),
                "username": org.admin.code,
                "password": org.admin.password,
            },
            headers={"Origin": "https://keyloft.test"},
        )
    assert answer.status_code == 303
    cookie = next(
        value for value in answer.headers.get_list("set-cookie") if "keyloft_console=" in value
    )
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


async def test_a_till_signs_in_with_its_code(http: httpx.AsyncClient, org: OrgFixture) -> None:
    await sign_in(http, org.tills[0])
    page = await http.get(CLIENTS)
    assert page.status_code == 200
    assert "Acme Till 1" in page.text


@pytest.mark.parametrize("who", ["wrong-password", "unknown-user"])
async def test_wrong_credentials_are_refused_next_to_the_password(
    http: httpx.AsyncClient, org: OrgFixture, who: str
) -> None:
    username = org.admin.code if who == "wrong-password" else "nobody-here"
    answer = await attempt(http, username, "not-the-password")
    assert answer.status_code == 401
    assert error_for(answer.text, "password") == "Wrong username or password."
    assert not any(v.startswith("keyloft_console=") for v in answer.headers.get_list("set-cookie"))
    assert (await http.get(CLIENTS)).status_code == 303


async def test_empty_fields_are_named(http: httpx.AsyncClient, org: OrgFixture) -> None:
    answer = await attempt(http, "", "")
    assert answer.status_code == 400
    assert error_for(answer.text, "username") == "Enter your username."
    assert error_for(answer.text, "password") == "Enter your password."


@pytest.fixture
async def limited(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A node that blocks a login after three failures."""
    rt = await build_runtime(
        settings.model_copy(update={"auth_failure_limit": 3}), database=database
    )
    transport = httpx.ASGITransport(app=create_app(runtime=rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://keyloft.test") as http:
        yield http
    await rt.stop()


async def test_failures_are_rate_limited_like_the_api(
    limited: httpx.AsyncClient, org: OrgFixture
) -> None:
    for _ in range(3):
        assert (await attempt(limited, org.admin.code, "guess")).status_code == 401
    blocked = await attempt(limited, org.admin.code, org.admin.password)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in (error_for(blocked.text, "password") or "")
    # The API refuses the same login too: one guard for both.
    api = await limited.get("/v3/integrations/scopes", headers=org.auth)
    assert api.status_code == 429


async def test_sign_in_without_its_form_token_is_refused(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    await http.get(SIGN_IN)
    answer = await http.post(
        SIGN_IN,
        data={"username": org.admin.code, "password": org.admin.password},
        headers=ORIGIN,
    )
    assert answer.status_code == 403
    assert (await http.get(CLIENTS)).status_code == 303


async def test_sign_in_from_another_site_is_refused(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    form = await http.get(SIGN_IN)
    fields = {
        "csrf_token": csrf_token(form.text),
        "username": org.admin.code,
        "password": org.admin.password,
    }
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = await http.post(SIGN_IN, data=fields, headers=headers)
        assert answer.status_code == 403, headers
    assert (await http.get(CLIENTS)).status_code == 303

"""HTTP Basic as an admin user or a Till: clear password or its md5 hex, and every way to fail."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest

from tests.support.api import OrgFixture, basic, client_body

SCOPES = "/v3/integrations/scopes"


def assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    body: dict[str, Any] = response.json()
    assert body["data"] is None
    assert len(body["errors"]) == 1
    assert isinstance(body["errors"][0]["code"], int)
    assert isinstance(body["errors"][0]["message"], str)
    assert "Basic" in response.headers["WWW-Authenticate"]


def md5_hex(password: str) -> str:
    return hashlib.md5(password.encode(), usedforsecurity=False).hexdigest()


async def test_admin_user_with_clear_password(http: httpx.AsyncClient, org: OrgFixture) -> None:
    response = await http.get(SCOPES, headers=basic(org.admin.code, org.admin.password))
    assert response.status_code == 200, response.text
    assert response.json()["errors"] is None
    assert {entity["entity"] for entity in response.json()["data"]} >= {"All"}


async def test_admin_user_with_md5_of_password(http: httpx.AsyncClient, org: OrgFixture) -> None:
    response = await http.get(SCOPES, headers=basic(org.admin.code, md5_hex(org.admin.password)))
    assert response.status_code == 200, response.text


async def test_till_with_clear_password(http: httpx.AsyncClient, org: OrgFixture) -> None:
    till = org.tills[1]
    response = await http.get(SCOPES, headers=basic(till.code, till.password))
    assert response.status_code == 200, response.text


async def test_till_with_md5_of_password(http: httpx.AsyncClient, org: OrgFixture) -> None:
    till = org.tills[0]
    response = await http.get(SCOPES, headers=basic(till.code, md5_hex(till.password)))
    assert response.status_code == 200, response.text


async def test_till_change_is_attributed_to_the_till(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    till = org.tills[1]
    response = await http.post(
        "/v3/integrations/clients", json=client_body(org), headers=basic(till.code, till.password)
    )
    assert response.status_code == 200, response.text
    created_by = response.json()["data"]["attribution"]["createdBy"]
    assert (created_by["id"], created_by["code"], created_by["type"]) == (
        till.id,
        till.code,
        "TILL",
    )


async def test_md5_of_the_md5_is_not_the_password(http: httpx.AsyncClient, org: OrgFixture) -> None:
    twice = md5_hex(md5_hex(org.admin.password))
    assert_unauthenticated(await http.get(SCOPES, headers=basic(org.admin.code, twice)))


async def test_wrong_password(http: httpx.AsyncClient, org: OrgFixture) -> None:
    response = await http.get(SCOPES, headers=basic(org.admin.code, "not-the-password"))
    assert_unauthenticated(response)


async def test_another_users_password(http: httpx.AsyncClient, org: OrgFixture) -> None:
    response = await http.get(SCOPES, headers=basic(org.admin.code, org.tills[0].password))
    assert_unauthenticated(response)


async def test_unknown_user_looks_like_wrong_password(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    unknown = await http.get(SCOPES, headers=basic("nobody-here", org.admin.password))
    wrong = await http.get(SCOPES, headers=basic(org.admin.code, "not-the-password"))
    assert_unauthenticated(unknown)
    assert unknown.json() == wrong.json()


async def test_missing_header(http: httpx.AsyncClient, org: OrgFixture) -> None:
    assert_unauthenticated(await http.get(SCOPES))


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic !!!not-base64!!!", id="bad-base64"),
        pytest.param("Basic " + base64.b64encode(b"no-colon-here").decode(), id="no-colon"),
        pytest.param("Basic " + base64.b64encode(b":password-only").decode(), id="no-username"),
        pytest.param("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), id="not-utf8"),
        pytest.param("Basic", id="empty-basic"),
        pytest.param("Basic    ", id="blank-basic"),
        pytest.param("Digest username=acme-admin", id="wrong-scheme"),
        pytest.param("acme-admin:acme-admin-password", id="no-scheme"),
    ],
)
async def test_malformed_basic_is_401_never_500(
    http: httpx.AsyncClient, org: OrgFixture, authorization: str
) -> None:
    response = await http.get(SCOPES, headers={"Authorization": authorization})
    assert_unauthenticated(response)


async def test_basic_scheme_name_is_case_insensitive(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    value = org.auth["Authorization"].split(" ", 1)[1]
    response = await http.get(SCOPES, headers={"Authorization": f"basic {value}"})
    assert response.status_code == 200, response.text

"""The token call refuses bad credentials alike, and bad bodies with a named field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import OrgFixture, create_client

TOKEN = "/v3/oauth/token/generate"


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["data"] is None
    assert len(body["errors"]) == 1
    error: dict[str, Any] = body["errors"][0]
    assert isinstance(error["code"], int)
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


async def test_unknown_key_wrong_secret_and_deleted_client_look_alike(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    live = await create_client(http, org, name="live")
    gone = await create_client(http, org, name="gone")
    deleted = await http.delete(f"/v3/integrations/clients/{gone['clientKey']}", headers=org.auth)
    assert deleted.status_code == 200, deleted.text

    unknown = await http.post(TOKEN, json={"key": "no-such-key", "secret": live["clientSecret"]})
    wrong = await http.post(TOKEN, json={"key": live["clientKey"], "secret": "not-the-secret"})
    after_delete = await http.post(
        TOKEN, json={"key": gone["clientKey"], "secret": gone["clientSecret"]}
    )
    for response in (unknown, wrong, after_delete):
        assert_error(response, 401)
        assert "WWW-Authenticate" in response.headers
        assert "accessToken" not in response.text
    assert unknown.content == wrong.content == after_delete.content


async def test_another_clients_secret_is_refused(http: httpx.AsyncClient, org: OrgFixture) -> None:
    first = await create_client(http, org, name="first")
    second = await create_client(http, org, name="second")
    response = await http.post(
        TOKEN, json={"key": first["clientKey"], "secret": second["clientSecret"]}
    )
    assert_error(response, 401)


async def test_secret_is_case_sensitive(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    secret: str = created["clientSecret"]
    flipped = secret.swapcase()
    assert flipped != secret
    response = await http.post(TOKEN, json={"key": created["clientKey"], "secret": flipped})
    assert_error(response, 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"secret": "s"}, "key", id="no-key"),
        pytest.param({"key": "k"}, "secret", id="no-secret"),
    ],
)
async def test_missing_field_is_named(
    http: httpx.AsyncClient, org: OrgFixture, body: dict[str, Any], field: str
) -> None:
    error = assert_error(await http.post(TOKEN, json=body), 400)
    assert error["field"] == field
    assert field in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"key": 1, "secret": "s"}, id="int-key"),
        pytest.param({"key": "k", "secret": None}, id="null-secret"),
        pytest.param({"key": ["k"], "secret": "s"}, id="list-key"),
        pytest.param({"key": "k", "secret": {"s": 1}}, id="object-secret"),
        pytest.param({"key": True, "secret": False}, id="booleans"),
    ],
)
async def test_wrong_types_are_400(
    http: httpx.AsyncClient, org: OrgFixture, body: dict[str, Any]
) -> None:
    error = assert_error(await http.post(TOKEN, json=body), 400)
    assert error["field"] in {"key", "secret"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[]", id="array"),
        pytest.param(b'"key"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"42", id="number"),
    ],
)
async def test_body_not_an_object_is_400(
    http: httpx.AsyncClient, org: OrgFixture, body: bytes
) -> None:
    response = await http.post(TOKEN, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400)


async def test_empty_body_is_400(http: httpx.AsyncClient, org: OrgFixture) -> None:
    response = await http.post(TOKEN, headers={"Content-Type": "application/json"})
    assert_error(response, 400)


async def test_malformed_json_is_400(http: httpx.AsyncClient, org: OrgFixture) -> None:
    response = await http.post(
        TOKEN, content=b'{"key": "k", "secret": ', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400)


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", ""],
)
async def test_non_json_content_type_is_415(
    http: httpx.AsyncClient, org: OrgFixture, content_type: str
) -> None:
    created = await create_client(http, org)
    response = await http.post(
        TOKEN,
        content=f"key={created['clientKey']}&secret={created['clientSecret']}".encode(),
        headers={"Content-Type": content_type},
    )
    assert_error(response, 415)
    assert "accessToken" not in response.text


async def test_get_is_405(http: httpx.AsyncClient, org: OrgFixture) -> None:
    assert_error(await http.get(TOKEN), 405)

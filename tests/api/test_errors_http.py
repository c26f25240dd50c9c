"""Failures before a route runs (size, media type, JSON, routing, query) answer the envelope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.api import OrgFixture, client_body

CLIENTS = "/v3/integrations/clients"
MIB = 1024 * 1024


def assert_envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"data", "errors"}
    assert body["data"] is None
    assert isinstance(body["errors"], list)
    assert len(body["errors"]) == 1
    error: dict[str, Any] = body["errors"][0]
    assert isinstance(error["code"], int)
    assert not isinstance(error["code"], bool)
    assert isinstance(error["message"], str)
    assert error["message"]
    assert set(error) <= {"code", "message", "field"}
    return error


def oversized() -> bytes:
    body = client_body_bytes()
    return body[:-1] + b',"padding":"' + b"x" * MIB + b'"}'


def client_body_bytes() -> bytes:
    return (
        b'{"name":"big","description":"d","expirationTokenTime":60,"defaultTillId":1,"scopes":[]}'
    )


async def count_clients(http: httpx.AsyncClient, org: OrgFixture) -> int:
    response = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    return len(response.json()["data"])


async def test_oversized_body_with_content_length_is_413(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    content = oversized()
    response = await http.post(
        CLIENTS, content=content, headers={**org.auth, "Content-Type": "application/json"}
    )
    assert response.request.headers["Content-Length"] == str(len(content))
    assert_envelope(response, 413)
    assert await count_clients(http, org) == 0


async def test_oversized_chunked_body_is_413(http: httpx.AsyncClient, org: OrgFixture) -> None:
    content = oversized()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 64 * 1024):
            yield content[start : start + 64 * 1024]

    response = await http.post(
        CLIENTS, content=chunks(), headers={**org.auth, "Content-Type": "application/json"}
    )
    assert "Content-Length" not in response.request.headers
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert_envelope(response, 413)
    assert await count_clients(http, org) == 0


async def test_oversized_token_request_is_413(http: httpx.AsyncClient, org: OrgFixture) -> None:
    content = b'{"key":"k","secret":"' + b"s" * (MIB + 1) + b'"}'
    response = await http.post(
        "/v3/oauth/token/generate", content=content, headers={"Content-Type": "application/json"}
    )
    assert_envelope(response, 413)


async def test_body_just_under_the_limit_is_read(http: httpx.AsyncClient, org: OrgFixture) -> None:
    body = client_body(org, description="d")
    encoded = httpx.Request("POST", "/", json=body).content
    padding = MIB - len(encoded) - len(',"padding":""') - 16
    response = await http.post(CLIENTS, json={**body, "padding": "x" * padding}, headers=org.auth)
    assert len(response.request.content) < MIB
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", " 10"])
async def test_bad_content_length_is_400(
    http: httpx.AsyncClient, org: OrgFixture, length: str
) -> None:
    response = await http.post(
        CLIENTS,
        content=b"{}",
        headers={**org.auth, "Content-Type": "application/json", "Content-Length": length},
    )
    assert_envelope(response, 400)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"]
)
async def test_post_not_json_is_415(
    http: httpx.AsyncClient, org: OrgFixture, content_type: str
) -> None:
    response = await http.post(
        CLIENTS,
        content=httpx.Request("POST", "/", json=client_body(org)).content,
        headers={**org.auth, "Content-Type": content_type},
    )
    assert_envelope(response, 415)
    assert await count_clients(http, org) == 0


async def test_put_not_json_is_415(http: httpx.AsyncClient, org: OrgFixture) -> None:
    response = await http.put(
        f"{CLIENTS}/whatever", content=b"name=x", headers={**org.auth, "Content-Type": "text/plain"}
    )
    assert_envelope(response, 415)


async def test_json_with_charset_and_suffix_is_accepted(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    content = httpx.Request("POST", "/", json=client_body(org)).content
    response = await http.post(
        CLIENTS,
        content=content,
        headers={**org.auth, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "content",
    [b"{", b'{"name": }', b"{'name': 'x'}", b'{"name": "x",}', b"\xff\xfe", b"NaN-ish"],
)
async def test_malformed_json_is_400(
    http: httpx.AsyncClient, org: OrgFixture, content: bytes
) -> None:
    response = await http.post(
        CLIENTS, content=content, headers={**org.auth, "Content-Type": "application/json"}
    )
    assert_envelope(response, 400)


async def test_unknown_route_is_404(http: httpx.AsyncClient, org: OrgFixture) -> None:
    for path in ("/nope", "/v3/integrations", "/v3/integrations/clients/a/b", "/v2/clients"):
        assert_envelope(await http.get(path, headers=org.auth), 404)


async def test_wrong_method_is_405(http: httpx.AsyncClient, org: OrgFixture) -> None:
    response = await http.patch(CLIENTS, json={}, headers=org.auth)
    assert_envelope(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert_envelope(await http.post("/v3/integrations/scopes", json={}, headers=org.auth), 405)


@pytest.mark.parametrize("value", ["maybe", "2", "", "yes please"])
async def test_wrong_query_type_is_400(
    http: httpx.AsyncClient, org: OrgFixture, value: str
) -> None:
    response = await http.get(CLIENTS, params={"includeInvalid": value}, headers=org.auth)
    error = assert_envelope(response, 400)
    assert error["field"] == "includeInvalid"


async def test_unauthenticated_error_is_the_envelope(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    assert_envelope(await http.get(CLIENTS), 401)


async def test_not_found_client_is_the_envelope(http: httpx.AsyncClient, org: OrgFixture) -> None:
    assert_envelope(await http.get(f"{CLIENTS}/no-such-key", headers=org.auth), 404)

"""The gateway decision point, /v3/oauth/check: POST answers in the v3 envelope, GET answers in
its status (nginx ``auth_request``), both for v3 and RFC 9068 tokens, against the client as
it is now."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import OrgFixture, create_client, mint, oauth_token

CHECK = "/v3/oauth/check"
CLIENTS = "/v3/integrations/clients"
PUBLIC = "/v3/targetGroups/public/7"


def grant(entity: int, permission: str, *resources: str) -> dict[str, Any]:
    return {"entityId": entity, "permission": permission, "resources": list(resources)}


# TargetGroups (entity 1): read, only below /public; All (entity 2): write; Transaction: none.
GRANTS = [grant(1, "READ", ".*v3/targetGroups/public.*"), grant(2, "WRITE")]


@pytest.fixture
async def client(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    return await create_client(http, org, name="gateway-caller", scopes=GRANTS)


async def token_of(http: httpx.AsyncClient, client: dict[str, Any], kind: str) -> str:
    if kind == "oauth":
        return await oauth_token(http, client)
    return await mint(http, client["clientKey"], client["clientSecret"])


async def post_check(
    http: httpx.AsyncClient, token: str, method: str, path: str, **headers: str
) -> dict[str, Any]:
    answer = await http.post(
        CHECK, json={"token": token, "method": method, "path": path}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["errors"] is None
    assert set(body["data"]) == {"allowed", "reason", "clientKey", "orgId", "tillId"}
    data: dict[str, Any] = body["data"]
    return data


async def get_check(
    http: httpx.AsyncClient,
    token: str | None,
    method: str | None,
    uri: str | None,
    *,
    bearer: bool = False,
    **extra: str,
) -> httpx.Response:
    headers = dict(extra)
    if token is not None:
        if bearer:
            headers["Authorization"] = f"Bearer {token}"
        else:
            headers["X-CAP-API-OAUTH-TOKEN"] = token
    if method is not None:
        headers["X-Original-Method"] = method
    if uri is not None:
        headers["X-Original-URI"] = uri
    return await http.get(CHECK, headers=headers)


DECISIONS = [
    pytest.param("GET", PUBLIC, True, "allowed", id="read-in-resource"),
    pytest.param("HEAD", PUBLIC, True, "allowed", id="head-is-read"),
    pytest.param("get", PUBLIC, True, "allowed", id="method-case"),
    pytest.param("GET", PUBLIC + "?secret=1", True, "allowed", id="query-ignored"),
    pytest.param("POST", PUBLIC, False, "permission", id="write-on-read-grant"),
    pytest.param("DELETE", PUBLIC, False, "permission", id="delete-on-read-grant"),
    pytest.param("GET", "/v3/targetGroups/secret", False, "resource", id="outside-resources"),
    pytest.param("POST", "/v3/customers", True, "allowed", id="fallback-write"),
    pytest.param("PUT", "/v3/customers/1", True, "allowed", id="fallback-put"),
    pytest.param("GET", "/v3/customers", False, "permission", id="fallback-read"),
    pytest.param("GET", "/v1.1/transaction/add", False, "no_grant", id="entity-not-granted"),
    pytest.param("POST", "/v1.1/transaction/add", False, "no_grant", id="entity-not-granted-w"),
    pytest.param("GET", "/v3/targetGroups/public/../secret", False, "path_rejected", id="dots"),
    pytest.param("GET", "/v3/targetGroups%2Fpublic", False, "path_rejected", id="encoded-slash"),
    pytest.param("GET", "v3/targetGroups/public", False, "path_rejected", id="relative"),
    pytest.param("OPTIONS", "/v3/customers", False, "permission", id="options"),
]


@pytest.mark.parametrize("kind", ["oauth", "v3"])
@pytest.mark.parametrize(("method", "path", "allowed", "reason"), DECISIONS)
async def test_post_decides_per_grants(
    http: httpx.AsyncClient,
    client: dict[str, Any],
    org: OrgFixture,
    kind: str,
    method: str,
    path: str,
    allowed: bool,
    reason: str,
) -> None:
    token = await token_of(http, client, kind)
    data = await post_check(http, token, method, path)
    assert (data["allowed"], data["reason"]) == (allowed, reason)
    assert data["clientKey"] == client["clientKey"]
    assert data["orgId"] == org.id
    assert data["tillId"] == org.tills[0].id == client["defaultTillId"]


@pytest.mark.parametrize("kind", ["oauth", "v3"])
@pytest.mark.parametrize(("method", "path", "allowed", "reason"), DECISIONS)
async def test_get_answers_in_the_status(
    http: httpx.AsyncClient,
    client: dict[str, Any],
    org: OrgFixture,
    kind: str,
    method: str,
    path: str,
    allowed: bool,
    reason: str,
) -> None:
    token = await token_of(http, client, kind)
    answer = await get_check(http, token, method, path, bearer=kind == "oauth")
    assert answer.status_code == (200 if allowed else 403), answer.text
    assert answer.headers["x-keyloft-decision"] == reason
    assert answer.headers["x-keyloft-client-key"] == client["clientKey"]
    assert answer.headers["x-keyloft-org-id"] == str(org.id)
    assert answer.headers["cache-control"] == "no-store"
    if allowed:
        assert answer.headers["x-keyloft-till-id"] == str(org.tills[0].id)
    else:
        body = answer.json()
        assert body["data"] is None
        assert body["errors"][0]["code"] == 4000


async def test_narrowed_oauth_token_decides_on_its_scope(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    token = await oauth_token(http, client, "All:write")
    assert (await post_check(http, token, "POST", "/v3/customers"))["allowed"] is True
    assert (await post_check(http, token, "GET", PUBLIC))["reason"] == "no_grant"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param("a.b.c", id="three-dots"),
        pytest.param("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", id="alg-none"),
    ],
)
async def test_invalid_token(http: httpx.AsyncClient, token: str) -> None:
    data = await post_check(http, token, "GET", PUBLIC)
    assert data == {
        "allowed": False,
        "reason": "invalid_token",
        "clientKey": None,
        "orgId": None,
        "tillId": None,
    }
    for bearer in (False, True):
        answer = await get_check(http, token, "GET", PUBLIC, bearer=bearer)
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
        assert "x-keyloft-client-key" not in answer.headers
        assert answer.json()["errors"][0]["code"] == 3003


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"X-CAP-API-OAUTH-TOKEN": ""}, id="empty"),
        pytest.param({"Authorization": "Bearer "}, id="empty-bearer"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic"),
    ],
)
async def test_get_without_a_token_is_401(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    answer = await http.get(
        CHECK, headers={"X-Original-Method": "GET", "X-Original-URI": PUBLIC, **headers}
    )
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "uri"),
    [
        pytest.param(None, PUBLIC, id="no-method"),
        pytest.param("GET", None, id="no-uri"),
        pytest.param(None, None, id="neither"),
        pytest.param("", PUBLIC, id="empty-method"),
    ],
)
async def test_get_without_the_original_request_is_403(
    http: httpx.AsyncClient, client: dict[str, Any], method: str | None, uri: str | None
) -> None:
    token = await mint(http, client["clientKey"], client["clientSecret"])
    answer = await get_check(http, token, method, uri)
    assert answer.status_code == 403, answer.text
    assert answer.headers["x-keyloft-decision"] == "missing_original_request"


@pytest.mark.parametrize("kind", ["oauth", "v3"])
async def test_attribution_chooses_another_till_of_the_org(
    http: httpx.AsyncClient, client: dict[str, Any], org: OrgFixture, kind: str
) -> None:
    token = await token_of(http, client, kind)
    till = {
        "X-CAP-API-ATTRIBUTION-ENTITY-TYPE": "TILL",
        "X-CAP-API-ATTRIBUTION-ENTITY-CODE": org.tills[1].code,
    }
    data = await post_check(http, token, "GET", PUBLIC, **till)
    assert (data["allowed"], data["tillId"]) == (True, org.tills[1].id)
    assert org.tills[1].id != org.tills[0].id
    lower = {**till, "X-CAP-API-ATTRIBUTION-ENTITY-TYPE": "till"}
    assert (await post_check(http, token, "GET", PUBLIC, **lower))["tillId"] == org.tills[1].id
    answer = await get_check(http, token, "GET", PUBLIC, **till)
    assert answer.status_code == 200
    assert answer.headers["x-keyloft-till-id"] == str(org.tills[1].id)


TYPE, CODE = "X-CAP-API-ATTRIBUTION-ENTITY-TYPE", "X-CAP-API-ATTRIBUTION-ENTITY-CODE"


@pytest.mark.parametrize(
    "attribution",
    ["other-org", "unknown", "admin", "no-code", "no-type", "wrong-type"],
)
async def test_attribution_outside_the_org_is_unknown_till(
    http: httpx.AsyncClient,
    client: dict[str, Any],
    org: OrgFixture,
    other_org: OrgFixture,
    attribution: str,
) -> None:
    headers = {
        "other-org": {TYPE: "TILL", CODE: other_org.tills[0].code},
        "unknown": {TYPE: "TILL", CODE: "no.such.till"},
        "admin": {TYPE: "TILL", CODE: org.admin.code},
        "no-code": {TYPE: "TILL"},
        "no-type": {CODE: org.tills[1].code},
        "wrong-type": {TYPE: "STORE", CODE: org.tills[1].code},
    }[attribution]
    token = await mint(http, client["clientKey"], client["clientSecret"])
    data = await post_check(http, token, "GET", PUBLIC, **headers)
    assert data == {
        "allowed": False,
        "reason": "unknown_till",
        "clientKey": client["clientKey"],
        "orgId": org.id,
        "tillId": None,
    }
    answer = await get_check(http, token, "GET", PUBLIC, **headers)
    assert answer.status_code == 403
    assert answer.headers["x-keyloft-decision"] == "unknown_till"
    assert "x-keyloft-till-id" not in answer.headers


@pytest.mark.parametrize("kind", ["oauth", "v3"])
async def test_deleted_clients_token_is_invalid_at_once(
    http: httpx.AsyncClient, client: dict[str, Any], org: OrgFixture, kind: str
) -> None:
    token = await token_of(http, client, kind)
    assert (await post_check(http, token, "GET", PUBLIC))["allowed"] is True
    deleted = await http.delete(f"{CLIENTS}/{client['clientKey']}", headers=org.auth)
    assert deleted.status_code == 200, deleted.text
    assert (await post_check(http, token, "GET", PUBLIC))["reason"] == "invalid_token"
    assert (await get_check(http, token, "GET", PUBLIC)).status_code == 401


@pytest.mark.parametrize("kind", ["oauth", "v3"])
async def test_narrowed_clients_token_is_denied_at_once(
    http: httpx.AsyncClient, client: dict[str, Any], org: OrgFixture, kind: str
) -> None:
    token = await token_of(http, client, kind)
    assert (await post_check(http, token, "GET", PUBLIC))["allowed"] is True
    assert (await post_check(http, token, "POST", "/v3/customers"))["allowed"] is True
    narrowed = await http.put(
        f"{CLIENTS}/{client['clientKey']}",
        json={
            "expirationTokenTime": client["expirationTokenTime"],
            "defaultTillId": client["defaultTillId"],
            "scopes": [grant(2, "WRITE")],
        },
        headers=org.auth,
    )
    assert narrowed.status_code == 200, narrowed.text
    assert (await post_check(http, token, "GET", PUBLIC))["reason"] == "no_grant"
    assert (await get_check(http, token, "GET", PUBLIC)).status_code == 403
    assert (await post_check(http, token, "POST", "/v3/customers"))["allowed"] is True


async def test_widened_client_does_not_widen_its_tokens(
    http: httpx.AsyncClient, client: dict[str, Any], org: OrgFixture
) -> None:
    token = await mint(http, client["clientKey"], client["clientSecret"])
    widened = await http.put(
        f"{CLIENTS}/{client['clientKey']}",
        json={
            "expirationTokenTime": client["expirationTokenTime"],
            "defaultTillId": client["defaultTillId"],
            "scopes": [grant(1, "READWRITE"), grant(2, "READWRITE")],
        },
        headers=org.auth,
    )
    assert widened.status_code == 200, widened.text
    assert (await post_check(http, token, "GET", "/v3/customers"))["reason"] == "permission"
    fresh = await mint(http, client["clientKey"], client["clientSecret"])
    assert (await post_check(http, fresh, "GET", "/v3/customers"))["allowed"] is True


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'{"method": "GET", "path": "/x"}', id="no-token"),
        pytest.param(b'{"token": "t", "path": "/x"}', id="no-method"),
        pytest.param(b'{"token": "t", "method": "GET"}', id="no-path"),
        pytest.param(b'{"token": 1, "method": "GET", "path": "/x"}', id="token-not-string"),
        pytest.param(b'{"token": "t", "method": "", "path": "/x"}', id="empty-method"),
        pytest.param(b'{"token": "t", "method": "GET", "path": ""}', id="empty-path"),
        pytest.param(b'{"token": "t", "method": "' + b"G" * 17 + b'", "path": "/x"}', id="long"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_malformed_post_is_a_400_envelope(http: httpx.AsyncClient, body: bytes) -> None:
    answer = await http.post(CHECK, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    envelope = answer.json()
    assert envelope["data"] is None
    assert envelope["errors"]
    assert isinstance(envelope["errors"][0]["code"], int)


async def test_unknown_post_fields_are_ignored(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    token = await mint(http, client["clientKey"], client["clientSecret"])
    body = {"token": token, "method": "GET", "path": PUBLIC, "allowed": True, "orgId": 999}
    answer = await http.post(CHECK, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["allowed"] is True
    assert answer.json()["data"]["orgId"] != 999


async def test_post_of_another_orgs_client_names_its_own_org(
    http: httpx.AsyncClient, other_org: OrgFixture
) -> None:
    theirs = await create_client(http, other_org, name="theirs", scopes=GRANTS)
    token = await mint(http, theirs["clientKey"], theirs["clientSecret"])
    data = await post_check(http, token, "GET", PUBLIC)
    assert (data["orgId"], data["tillId"]) == (other_org.id, other_org.tills[0].id)


async def test_get_refuses_two_different_tokens(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    """As the API does: two different tokens are ambiguous, so neither is honoured."""
    token = await mint(http, client["clientKey"], client["clientSecret"])
    original = {"X-Original-Method": "GET", "X-Original-URI": PUBLIC}
    both = {"X-CAP-API-OAUTH-TOKEN": token, "Authorization": "Bearer garbage", **original}
    refused = await http.get(CHECK, headers=both)
    assert refused.status_code == 401
    assert refused.headers["x-keyloft-decision"] == "ambiguous_token"
    swapped = {"X-CAP-API-OAUTH-TOKEN": "garbage", "Authorization": f"Bearer {token}", **original}
    assert (await http.get(CHECK, headers=swapped)).status_code == 401
    same = {"X-CAP-API-OAUTH-TOKEN": token, "Authorization": f"Bearer {token}", **original}
    assert (await http.get(CHECK, headers=same)).status_code == 200

"""Dynamic client registration (RFC 7591) at POST /oauth2/register: who may register (an
admin or Till by Basic, a token with write), what the answer holds, how each metadata field
becomes the client the management API shows, the defaults, and every refusal — an RFC 7591
error object naming the field, and nothing stored."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from keyloft.config import Settings
from keyloft.runtime import build_runtime
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import (
    BASE_URL,
    ISSUER,
    OrgFixture,
    basic,
    client_basic,
    create_client,
    make_org,
)
from tests.support.fake_idp import generate_key, private_jwk, public_jwk
from tests.support.registration import (
    REGISTER,
    bearer,
    client_keys,
    grant,
    metadata,
    register,
    registered,
    token_caller,
    v3_client,
)
from tests.support.stores import STORES

AUDIT = "/v3/integrations/audit"
CHALLENGE = 'Basic realm="keyloft", charset="UTF-8", Bearer realm="keyloft"'


async def token_scope(http: httpx.AsyncClient, answer: dict[str, Any], **form: str) -> str:
    """The scope of a token minted with the registered client's secret (Basic)."""
    minted = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", **form},
        headers=client_basic(answer["client_id"], answer["client_secret"]),
    )
    assert minted.status_code == 200, minted.text
    scope: str = minted.json()["scope"]
    return scope


async def audit_events(http: httpx.AsyncClient, org: OrgFixture, key: str) -> list[dict[str, Any]]:
    answer = await http.get(AUDIT, params={"clientKey": key}, headers=org.auth)
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["data"]["events"]
    return events


def assert_refused(
    response: httpx.Response, field: str, error: str = "invalid_client_metadata"
) -> str:
    """RFC 7591 §3.2.2: 400 with the error code, a description naming the field, not cached."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert field in body["error_description"]
    assert response.headers["cache-control"] == "no-store"
    description: str = body["error_description"]
    return description


# --- who registers, and what the answer holds -----------------------------------------------


async def test_an_admin_registers_a_client_that_gets_tokens(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    before = int(time.time())
    answer = await register(http, org.auth, metadata(org))
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["pragma"] == "no-cache"
    body = answer.json()
    key = body["client_id"]
    assert len(key) == 25
    assert len(body["client_secret"]) == 40
    assert before - 1 <= body["client_id_issued_at"] <= int(time.time()) + 1
    assert body["client_secret_expires_at"] == 0  # RFC 7591 §3.2.1: required with a secret
    assert len(body["registration_access_token"]) >= 43
    assert body["registration_client_uri"] == f"{ISSUER}/oauth2/register/{key}"
    assert {name: body[name] for name in body if not name.startswith(("client_", "regis"))} == {
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"],
        "response_types": [],
        "scope": "TargetGroups:readwrite All:read",
        "dpop_bound_access_tokens": False,
        "tls_client_certificate_bound_access_tokens": False,
        "keyloft_description": "",
        "keyloft_token_lifetime": 3600,
        "keyloft_default_till_id": org.tills[0].id,
    }
    assert body["client_name"] == "dcr-client"

    assert await token_scope(http, body) == "TargetGroups:readwrite All:read"
    assert await token_scope(http, body, scope="All:read") == "All:read"
    shown = await v3_client(http, org, key)
    assert shown["name"] == "dcr-client"
    assert shown["isValid"] is True
    assert shown["scopes"] == [grant(1, "READWRITE"), grant(2, "READ")]
    assert shown["attribution"]["createdBy"]["code"] == org.admin.code
    (event,) = await audit_events(http, org, key)
    assert event["action"] == "client.create"
    assert event["actor"]["code"] == org.admin.code
    text = json.dumps(event)
    assert body["client_secret"] not in text
    assert body["registration_access_token"] not in text


async def test_a_till_by_basic_may_not_register(http: httpx.AsyncClient, org: OrgFixture) -> None:
    """The issue names an admin's credentials: a Till's Basic login is refused, and nothing
    is stored; the same Till's clients may register with an access token instead."""
    before = await client_keys(http, org)
    till = org.tills[1]
    answer = await register(http, till.headers, metadata(org, keyloft_default_till_id=None))
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "insufficient_scope"
    assert "admin" in answer.json()["error_description"]
    assert await client_keys(http, org) == before


async def test_a_token_is_judged_as_creating_a_client_through_the_management_api(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    """Write on the entity of ``/v3/integrations/clients`` is what registering takes: a token
    allowed that path may register; one allowed only another entity's may not."""
    allowed = await token_caller(http, org, [grant(2, "READWRITE")], name="all-writer")
    asked = metadata(org, scope="All:read", keyloft_default_till_id=None)
    assert (await register(http, allowed, asked)).status_code == 201
    elsewhere = await token_caller(http, org, [grant(1, "READWRITE")], name="groups-writer")
    refused = await register(http, elsewhere, {**asked, "client_name": "refused"})
    assert refused.status_code == 403, refused.text


async def test_a_token_with_write_registers_in_its_own_org(
    http: httpx.AsyncClient, org: OrgFixture, other_org: OrgFixture
) -> None:
    headers = await token_caller(http, org, [grant(1, "READWRITE"), grant(2, "WRITE")])
    asked = metadata(org, scope="TargetGroups:read All:write", keyloft_default_till_id=None)
    answer = await register(http, headers, asked)
    assert answer.status_code == 201, answer.text
    key = answer.json()["client_id"]
    # The token acts as its client's default Till: the new client's, and the actor.
    assert answer.json()["keyloft_default_till_id"] == org.tills[0].id
    assert key in await client_keys(http, org)
    assert key not in await client_keys(http, other_org)
    (event,) = await audit_events(http, org, key)
    assert (event["action"], event["actor"]["code"]) == ("client.create", org.tills[0].code)
    # A Till of another org cannot be the client's.
    elsewhere = {**asked, "client_name": "other", "keyloft_default_till_id": other_org.tills[0].id}
    refused = await register(http, headers, elsewhere)
    assert_refused(refused, "keyloft_default_till_id")


async def test_a_token_without_write_is_403(http: httpx.AsyncClient, org: OrgFixture) -> None:
    headers = await token_caller(http, org, [grant(1, "READWRITE"), grant(2, "READ")])
    answer = await register(http, headers, metadata(org))
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "insufficient_scope"
    assert answer.headers["www-authenticate"] == (
        'Bearer realm="keyloft", error="insufficient_scope"'
    )
    assert len(await client_keys(http, org)) == 1  # the caller only


async def test_a_token_gives_no_more_than_it_holds(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    headers = await token_caller(http, org, [grant(2, "READWRITE")])
    wider = await register(http, headers, metadata(org, scope="All:read TargetGroups:read"))
    assert wider.status_code == 403, wider.text
    assert wider.json()["error"] == "insufficient_scope"
    assert "TargetGroups" in wider.json()["error_description"]
    assert len(await client_keys(http, org)) == 1  # the caller only
    within = await register(http, headers, metadata(org, scope="All:write"))
    assert within.status_code == 201, within.text


async def test_bad_basic_is_401_and_says_nothing_more(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    body = metadata(org)
    unknown = await register(http, basic("nobody", "whatever"), body)
    wrong = await register(http, basic(org.admin.code, "wrong-password"), body)
    for answer in (unknown, wrong):
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == CHALLENGE
        assert answer.headers["cache-control"] == "no-store"
    assert (
        unknown.json()
        == wrong.json()
        == {
            "error": "invalid_token",
            "error_description": "Invalid username or password.",
        }
    )
    missing = await http.post(REGISTER, json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == CHALLENGE
    assert missing.json()["error"] == "invalid_token"
    assert await client_keys(http, org) == []


async def test_failed_logins_are_limited_as_for_the_management_api(
    settings: Settings, database: Database, org: OrgFixture
) -> None:
    limited = settings.model_copy(
        update={"auth_failure_limit": 2, "auth_failure_window_seconds": 60}
    )
    rt = await build_runtime(limited, database=database)
    transport = httpx.ASGITransport(app=create_app(runtime=rt))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            wrong = basic(org.admin.code, "wrong-password")
            answers = [await register(client, wrong, metadata(org)) for _ in range(3)]
            answers.append(await register(client, org.auth, metadata(org)))
    finally:
        await rt.stop()
    assert [answer.status_code for answer in answers] == [401, 401, 429, 429]
    assert answers[2].json()["error"] == "slow_down"
    assert int(answers[2].headers["retry-after"]) > 0
    async with database.unit_of_work(write=False) as store:
        assert await store.clients.list(org.id, include_invalid=True) == []


async def test_a_bad_token_is_401_invalid_token(http: httpx.AsyncClient, org: OrgFixture) -> None:
    answer = await register(http, bearer("not-a-token"), metadata(org))
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_token"
    assert answer.headers["www-authenticate"] == 'Bearer realm="keyloft", error="invalid_token"'
    assert await client_keys(http, org) == []


async def test_the_metadata_names_the_endpoint(http: httpx.AsyncClient) -> None:
    document = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert document["registration_endpoint"] == f"{ISSUER}/oauth2/register"


# --- each metadata field ----------------------------------------------------------------------


async def test_client_secret_post_is_a_secret_client_answered_as_registered(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    body = await registered(http, org, token_endpoint_auth_method="client_secret_post")
    assert body["token_endpoint_auth_method"] == "client_secret_post"
    form = {
        "grant_type": "client_credentials",
        "client_id": body["client_id"],
        "client_secret": body["client_secret"],
    }
    assert (await http.post("/oauth2/token", data=form)).status_code == 200
    assert await token_scope(http, body)  # and Basic, as every secret client
    shown = await v3_client(http, org, body["client_id"])
    assert shown["tokenEndpointAuthMethod"] == "client_secret_basic"


async def test_private_key_jwt_with_jwks_has_no_secret(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    key = public_jwk(generate_key("P-256"), kid="k1", alg="ES256")
    body = await registered(
        http,
        org,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key]},
    )
    assert "client_secret" not in body
    assert "client_secret_expires_at" not in body
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["jwks"] == {"keys": [key]}
    assert "jwks_uri" not in body
    shown = await v3_client(http, org, body["client_id"])
    assert shown["tokenEndpointAuthMethod"] == "private_key_jwt"
    assert [k["kid"] for k in shown["keys"]] == ["k1"]


async def test_private_key_jwt_with_a_jwks_uri(http: httpx.AsyncClient, org: OrgFixture) -> None:
    body = await registered(
        http,
        org,
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri="https://keys.partner.example/jwks.json",
    )
    assert body["jwks_uri"] == "https://keys.partner.example/jwks.json"
    assert "jwks" not in body
    shown = await v3_client(http, org, body["client_id"])
    assert shown["jwksUri"] == "https://keys.partner.example/jwks.json"


async def test_token_bindings_and_extensions_map_onto_the_client(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    body = await registered(
        http,
        org,
        scope="TargetGroups:write All:readwrite Transaction:read",
        dpop_bound_access_tokens=True,
        tls_client_certificate_bound_access_tokens=True,
        keyloft_description="Nightly export",
        keyloft_token_lifetime=900,
        keyloft_default_till_id=org.tills[1].id,
        keyloft_scope_resources={"targetgroups": [".*v3/targetGroups/7.*"]},
    )
    assert body["scope"] == "TargetGroups:write All:readwrite Transaction:read"
    assert body["keyloft_scope_resources"] == {"TargetGroups": [".*v3/targetGroups/7.*"]}
    shown = await v3_client(http, org, body["client_id"])
    assert shown["scopes"] == [
        grant(1, "WRITE", ".*v3/targetGroups/7.*"),
        grant(2, "READWRITE"),
        grant(3, "READ"),
    ]
    assert shown["dpopBoundAccessTokens"] is True
    assert shown["tlsClientCertificateBoundAccessTokens"] is True
    assert shown["description"] == "Nightly export"
    assert shown["expirationTokenTime"] == 900
    assert shown["defaultTillId"] == org.tills[1].id
    for name, value in (
        ("dpop_bound_access_tokens", True),
        ("tls_client_certificate_bound_access_tokens", True),
        ("keyloft_description", "Nightly export"),
        ("keyloft_token_lifetime", 900),
        ("keyloft_default_till_id", org.tills[1].id),
    ):
        assert body[name] == value


async def test_unknown_metadata_is_ignored_and_not_answered(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    body = await registered(
        http,
        org,
        logo_uri="https://partner.example/logo.png",
        contacts=["ops@partner.example"],
        software_statement="eyJhbGciOiJub25lIn0.e30.",
        software_id="4NRB1-0XZABZI9E6-5SM3R",
        token_endpoint_auth_signing_alg="ES256",
        client_id="chosen-by-me",
        client_secret="chosen-secret-of-forty-characters-xxxxxxx",
    )
    assert body["client_id"] != "chosen-by-me"
    assert body["client_secret"] != "chosen-secret-of-forty-characters-xxxxxxx"
    for name in ("logo_uri", "contacts", "software_statement", "software_id"):
        assert name not in body
    assert "token_endpoint_auth_signing_alg" not in body


# --- defaults -------------------------------------------------------------------------------


async def test_an_admin_of_an_org_with_one_till_needs_not_name_it(
    http: httpx.AsyncClient, database: Database
) -> None:
    single = await make_org(database, "Single")
    async with database.unit_of_work(write=True) as store:  # one Till left active
        await store.session.execute(
            text("UPDATE principals SET is_active = :active WHERE id = :id"),
            {"active": False, "id": single.tills[1].id},
        )
    answer = await register(http, single.auth, {"client_name": "solo", "scope": "All:read"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["keyloft_default_till_id"] == single.tills[0].id
    assert answer.json()["token_endpoint_auth_method"] == "client_secret_basic"
    assert answer.json()["keyloft_token_lifetime"] == 3600  # the org's cap


async def test_an_admin_of_an_org_with_several_tills_names_one(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    answer = await register(http, org.auth, metadata(org, keyloft_default_till_id=None))
    assert "the org has 2 Tills" in assert_refused(answer, "keyloft_default_till_id")


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"token_endpoint_auth_method": "client_secret_jwt"}, "token_endpoint_auth_method", None),
        ({"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method", None),
        ({"grant_types": ["authorization_code"]}, "grant_types", None),
        ({"grant_types": ["client_credentials", "refresh_token"]}, "grant_types", None),
        ({"response_types": ["code"]}, "response_types", None),
        (
            {"redirect_uris": ["https://partner.example/cb"]},
            "redirect_uris",
            "invalid_redirect_uri",
        ),
        ({"scope": "All:admin"}, "scope", None),
        ({"scope": "All"}, "scope", None),
        ({"scope": "Orders:read"}, "Orders", None),
        ({"scope": None}, "scope", None),
        ({"client_name": None}, "client_name", None),
        ({"client_name": "x" * 101}, "client_name", None),
        ({"client_name": 12}, "client_name", None),
        ({"keyloft_token_lifetime": 3601}, "keyloft_token_lifetime", None),
        ({"keyloft_token_lifetime": "600"}, "keyloft_token_lifetime", None),
        ({"keyloft_default_till_id": 10**30}, "keyloft_default_till_id", None),
        ({"keyloft_description": "d" * 501}, "keyloft_description", None),
        (
            {"keyloft_scope_resources": {"All": ["(unclosed"]}},
            "keyloft_scope_resources.All[0]",
            None,
        ),
        ({"keyloft_scope_resources": {"Transaction": [".*"]}}, "keyloft_scope_resources", None),
        ({"dpop_bound_access_tokens": "yes"}, "dpop_bound_access_tokens", None),
        ({"jwks": {"keys": "none"}}, "jwks", None),
        (
            {"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://keys.example/"},
            "jwks_uri",
            None,
        ),
        (
            {"jwks": {"keys": []}, "jwks_uri": "https://keys.example/jwks.json"},
            "jwks_uri",
            None,
        ),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks", None),
        ({"token_endpoint_auth_method": "tls_client_auth"}, "token_endpoint_auth_method", None),
        (
            {"tls_client_auth_san_dns": "partner.example"},
            "tls_client_auth_san_dns",
            None,
        ),
    ],
)
async def test_bad_metadata_is_named_and_stores_nothing(
    http: httpx.AsyncClient, org: OrgFixture, fields: dict[str, Any], field: str, error: str | None
) -> None:
    body = metadata(org)
    body.update(fields)
    body = {name: value for name, value in body.items() if value is not None}
    answer = await register(http, org.auth, body)
    assert_refused(answer, field, error or "invalid_client_metadata")
    assert await client_keys(http, org) == []


async def test_a_private_key_is_refused_naming_the_member(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    leaked = private_jwk(generate_key("P-256"), kid="k1")
    answer = await register(
        http,
        org.auth,
        metadata(org, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [leaked]}),
    )
    description = assert_refused(answer, "jwks.keys[0]")
    assert "private" in description
    assert leaked["d"] not in answer.text
    assert await client_keys(http, org) == []


async def test_a_name_in_use_is_refused(http: httpx.AsyncClient, org: OrgFixture) -> None:
    await create_client(http, org, name="taken")
    answer = await register(http, org.auth, metadata(org, client_name="taken"))
    assert_refused(answer, "client_name")
    assert len(await client_keys(http, org)) == 1


async def test_the_orgs_client_limit_holds_as_for_the_management_api(
    http: httpx.AsyncClient, database: Database
) -> None:
    small = await make_org(database, "Small", max_clients=2)
    await create_client(http, small, name="first")
    assert (
        await register(http, small.auth, metadata(small, client_name="second"))
    ).status_code == 201
    answer = await register(http, small.auth, metadata(small, client_name="third"))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "access_denied"
    assert "maximum of 2 active API clients" in answer.json()["error_description"]
    assert len(await client_keys(http, small)) == 2


@pytest.mark.parametrize("database_url", STORES, indirect=True)
async def test_parallel_registrations_stop_at_the_limit(
    http: httpx.AsyncClient, database: Database
) -> None:
    small = await make_org(database, "Rush", max_clients=3)
    answers = await asyncio.gather(
        *(register(http, small.auth, metadata(small, client_name=f"rush-{n}")) for n in range(8))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * 3 + [400] * 5
    assert len(await client_keys(http, small)) == 3


async def test_unreadable_bodies(http: httpx.AsyncClient, org: OrgFixture) -> None:
    not_json = await http.post(
        REGISTER, content=b"{", headers={**org.auth, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"] == "invalid_request"
    listed = await register(http, org.auth, [metadata(org)])
    assert listed.status_code == 400
    assert listed.json()["error"] == "invalid_request"
    form = await http.post(REGISTER, data={"client_name": "a"}, headers=org.auth)
    assert form.status_code == 415
    assert await client_keys(http, org) == []


def _odd_bodies(org: OrgFixture) -> list[Any]:
    valid = metadata(org)
    return [
        None,
        0,
        "",
        [],
        {},
        {"": None},
        {name: None for name in valid},
        {**valid, "scope": ["All:read"]},
        {**valid, "scope": "All:read\nTargetGroups:read"},
        {**valid, "scope": "  "},
        {**valid, "scope": "All:read " * 500},
        {**valid, "grant_types": "client_credentials"},
        {**valid, "grant_types": [None]},
        {**valid, "jwks": []},
        {**valid, "jwks": {"keys": [None, 1, "x"]}},
        {**valid, "jwks_uri": 7},
        {**valid, "keyloft_scope_resources": {"All": "(a+)+$"}},
        {**valid, "keyloft_scope_resources": []},
        {**valid, "keyloft_token_lifetime": -(10**30)},
        {**valid, "keyloft_token_lifetime": 60.5},
        {**valid, "keyloft_default_till_id": None, "keyloft_description": {"a": 1}},
        {**valid, "client_name": "\u0000\u202e"},
        {**valid, "tls_client_auth_subject_dn": ["CN=a"]},
        {**valid, "token_endpoint_auth_method": None, "tls_client_auth_san_ip": "999.1.1.1"},
    ]


async def test_odd_bodies_answer_rfc_errors_and_store_nothing(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    for body in _odd_bodies(org):
        answer = await http.post(
            REGISTER,
            content=json.dumps(body).encode(),
            headers={**org.auth, "Content-Type": "application/json"},
        )
        assert 400 <= answer.status_code < 500, (body, answer.text)
        error = answer.json()
        assert set(error) == {"error", "error_description"}, (body, error)
        assert error["error"] in ("invalid_request", "invalid_client_metadata"), (body, error)
    assert await client_keys(http, org) == []


async def test_described_in_openapi(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    operations = spec["paths"]["/oauth2/register"]
    post = operations["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ClientRegistrationRequest"
    }
    created = post["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/ClientInformation"}
    for status in ("400", "401", "403"):
        refused = post["responses"][status]["content"]["application/json"]["schema"]
        assert refused == {"$ref": "#/components/schemas/RegistrationError"}
    assert "client_name" in schemas["ClientRegistrationRequest"]["properties"]
    assert "registration_access_token" in schemas["ClientInformation"]["required"]
    managed = spec["paths"]["/oauth2/register/{client_id}"]
    assert set(managed) == {"get", "put", "delete"}
    put = managed["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert put == {"$ref": "#/components/schemas/ClientUpdateRequest"}
    assert "client_id" in schemas["ClientUpdateRequest"]["properties"]
    assert "422" not in post["responses"]
    assert {"basic": []} in post["security"]
    assert {"bearer": []} in post["security"]
    assert {"capToken": []} in post["security"]
    for method in ("get", "put", "delete"):
        assert managed[method]["security"] == [{"registrationToken": []}]
    assert spec["components"]["securitySchemes"]["registrationToken"]["scheme"] == "bearer"

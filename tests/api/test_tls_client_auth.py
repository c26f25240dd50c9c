"""tls_client_auth (RFC 8705 §2.1, PKI mutual TLS) over the API: a client names the one subject
DN or subjectAltName its certificate carries (exactly one of five fields, checked, nothing
stored otherwise); its certificate, passed by the trusted TLS terminator, must chain to the
deployment's CAs (KEYLOFT_CLIENT_CA_CERTS) and carry that name. It mints at /oauth2/token and
the v3 call, introspects and revokes, gets certificate-bound tokens; every refusal is the same
invalid_client answer, its reason only in the log and the metrics. Without a CA bundle no
client can become one."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from keyloft.config import Settings
from keyloft.runtime import build_runtime
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.api.test_metrics import scrape, value
from tests.support.api import (
    BASE_URL,
    ISSUER,
    SERVER_SECRET,
    OrgFixture,
    client_basic,
    client_body,
    create_client,
)
from tests.support.certificates import HEADER, CertificateAuthority, Issued, self_signed

CLIENTS = "/v3/integrations/clients"
AUDIT = "/v3/integrations/audit"
TOKEN, V3_TOKEN = "/oauth2/token", "/v3/oauth/token/generate"
SCOPES = "/v3/integrations/scopes"
ALL_READ = [{"entityId": 2, "permission": "READ", "resources": []}]
TLS = "tls_client_auth"
DN, DNS, URI, IP, EMAIL = (
    "tlsClientAuthSubjectDn",
    "tlsClientAuthSanDns",
    "tlsClientAuthSanUri",
    "tlsClientAuthSanIp",
    "tlsClientAuthSanEmail",
)
NAMES = (DN, DNS, URI, IP, EMAIL)
SUBJECT = "CN=partner,OU=Payments,O=Acme,C=DE"
REFUSED = {"error": "invalid_client", "error_description": "Client authentication failed."}


@pytest.fixture
def pki(tmp_path: Path) -> CertificateAuthority:
    directory = tmp_path / "pki"
    directory.mkdir()
    return CertificateAuthority(directory, "client-ca")


@pytest.fixture
def ca_bundle(request: pytest.FixtureRequest, pki: CertificateAuthority) -> Path | None:
    """The deployment's KEYLOFT_CLIENT_CA_CERTS: the test CA, unless parametrized False."""
    return pki.certfile if getattr(request, "param", True) else None


@pytest.fixture
def settings(database_url: str, ca_bundle: Path | None) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SERVER_SECRET,
        issuer=ISSUER,
        client_cert_header=HEADER,
        trusted_proxies="127.0.0.1",  # the test transport's peer: the TLS terminator
        client_ca_certs=ca_bundle,
        _env_file=None,
    )


@pytest.fixture
def partner(pki: CertificateAuthority) -> Issued:
    return pki.issue(
        "partner",
        subject=SUBJECT,
        dns=["partner.example"],
        uris=["spiffe://acme.example/partner"],
        ips=["2001:db8::7"],
        emails=["ops@Partner.Example"],
    )


@pytest.fixture
def refusals(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Why Keyloft refused client certificates (its log, never its answer, says)."""
    caplog.set_level(logging.INFO, logger="keyloft.client_auth")
    return lambda: [
        str(record.reason)
        for record in caplog.records
        if record.name == "keyloft.client_auth" and hasattr(record, "reason")
    ]


async def tls_client(http: httpx.AsyncClient, org: OrgFixture, **fields: Any) -> dict[str, Any]:
    return await create_client(
        http, org, scopes=ALL_READ, tokenEndpointAuthMethod=TLS, **({DN: SUBJECT} | fields)
    )


def form(client: dict[str, Any]) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client["clientKey"]}


async def detail(http: httpx.AsyncClient, org: OrgFixture, key: str) -> dict[str, Any]:
    answer = await http.get(f"{CLIENTS}/{key}", headers=org.auth)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


async def clients(http: httpx.AsyncClient, org: OrgFixture) -> list[dict[str, Any]]:
    answer = await http.get(CLIENTS, headers=org.auth)
    found: list[dict[str, Any]] = answer.json()["data"]
    return found


async def audit(http: httpx.AsyncClient, org: OrgFixture, key: str) -> list[dict[str, Any]]:
    answer = await http.get(AUDIT, params={"clientKey": key}, headers=org.auth)
    events: list[dict[str, Any]] = answer.json()["data"]["events"]
    return events


def claims(token: str) -> dict[str, Any]:
    found: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return found


# --- minting --------------------------------------------------------------------------------


async def test_a_client_named_by_its_subject_mints_at_both_endpoints(
    http: httpx.AsyncClient, org: OrgFixture, partner: Issued
) -> None:
    client = await tls_client(http, org)
    assert "clientSecret" not in client
    assert client["tokenEndpointAuthMethod"] == TLS
    assert {name: client[name] for name in NAMES} == dict.fromkeys(NAMES) | {DN: SUBJECT}

    answer = await http.post(TOKEN, data=form(client), headers=partner.header())
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "Bearer"
    assert "cnf" not in claims(answer.json()["access_token"])
    v3 = await http.post(V3_TOKEN, json={"key": client["clientKey"]}, headers=partner.header())
    assert v3.status_code == 200, v3.text
    assert claims(v3.json()["data"]["accessToken"])["client_key"] == client["clientKey"]

    # Which certificate minted is the client's last used credential.
    shown = await detail(http, org, client["clientKey"])
    assert shown["lastUsedCredential"]["type"] == "certificate"
    assert shown["lastUsedCredential"]["id"] == partner.x5t_s256


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (DNS, "PARTNER.example"),
        (URI, "spiffe://acme.example/partner"),
        (IP, "2001:0db8:0:0::7"),
        (EMAIL, "ops@partner.example"),
        (DN, "cn=Partner, ou=payments, o=ACME, c=de"),
    ],
)
async def test_each_kind_of_name_proves_the_client(
    http: httpx.AsyncClient, org: OrgFixture, partner: Issued, field: str, value: str
) -> None:
    client = await create_client(
        http, org, scopes=ALL_READ, tokenEndpointAuthMethod=TLS, **{field: value}
    )
    answer = await http.post(TOKEN, data=form(client), headers=partner.header())
    assert answer.status_code == 200, answer.text


async def test_introspection_and_revocation_accept_the_certificate(
    http: httpx.AsyncClient, org: OrgFixture, partner: Issued, pki: CertificateAuthority
) -> None:
    client = await tls_client(http, org)
    token = (await http.post(TOKEN, data=form(client), headers=partner.header())).json()[
        "access_token"
    ]
    me = {"client_id": client["clientKey"], "token": token}
    looked = await http.post("/oauth2/introspect", data=me, headers=partner.header())
    assert looked.status_code == 200, looked.text
    assert looked.json()["active"] is True
    impostor = self_signed(pki.directory, "impostor", subject=SUBJECT)
    refused = await http.post("/oauth2/introspect", data=me, headers=impostor.header())
    assert refused.status_code == 401
    assert refused.json() == REFUSED
    revoked = await http.post("/oauth2/revoke", data=me, headers=partner.header())
    assert revoked.status_code == 200
    after = await http.post("/oauth2/introspect", data=me, headers=partner.header())
    assert after.json() == {"active": False}


async def test_its_tokens_are_bound_to_the_certificate_when_asked(
    http: httpx.AsyncClient, org: OrgFixture, partner: Issued, pki: CertificateAuthority
) -> None:
    client = await tls_client(http, org, tlsClientCertificateBoundAccessTokens=True)
    answer = await http.post(TOKEN, data=form(client), headers=partner.header())
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert claims(token)["cnf"] == {"x5t#S256": partner.x5t_s256}
    v3 = await http.post(V3_TOKEN, json={"key": client["clientKey"]}, headers=partner.header())
    assert claims(v3.json()["data"]["accessToken"])["cnf"] == {"x5t#S256": partner.x5t_s256}

    bearer = {"Authorization": f"Bearer {token}"}
    assert (await http.get(SCOPES, headers=bearer | partner.header())).status_code == 200
    # Another certificate of the same CA and subject proves the client, but is not the one
    # the token is bound to.
    twin = pki.issue("twin", subject=SUBJECT)
    assert (await http.post(TOKEN, data=form(client), headers=twin.header())).status_code == 200
    assert (await http.get(SCOPES, headers=bearer | twin.header())).status_code == 401
    assert (await http.get(SCOPES, headers=bearer)).status_code == 401


# --- refusals -------------------------------------------------------------------------------


async def test_every_refusal_is_the_same_invalid_client(
    app: Any,
    http: httpx.AsyncClient,
    org: OrgFixture,
    partner: Issued,
    pki: CertificateAuthority,
    refusals: Callable[[], list[str]],
) -> None:
    client = await tls_client(http, org)
    directory = pki.directory
    other_ca = CertificateAuthority(directory, "other-ca", subject="CN=client-ca")
    expired = pki.issue(
        "expired",
        subject=SUBJECT,
        not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    )
    attempts = {
        "subject": pki.issue("other-subject", subject="CN=partner,OU=Sales,O=Acme,C=DE"),
        "untrusted CA": other_ca.issue("foreign", subject=SUBJECT),
        "self-signed": self_signed(directory, "self", subject=SUBJECT),
        "expired": expired,
        "server EKU": pki.issue("server-eku", subject=SUBJECT, server=True),
    }
    before = await scrape(http)
    answers = {
        what: await http.post(TOKEN, data=form(client), headers=issued.header())
        for what, issued in attempts.items()
    }
    answers["no certificate"] = await http.post(TOKEN, data=form(client))
    stranger = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=stranger, base_url=BASE_URL) as direct:
        answers["untrusted proxy"] = await direct.post(
            TOKEN, data=form(client), headers=partner.header()
        )
    for what, answer in answers.items():
        assert answer.status_code == 401, what
        assert answer.json() == REFUSED, what
        assert answer.headers["www-authenticate"].startswith("Basic"), what
    # Nothing but the date and the request's id tells one refusal from another.
    shapes = {
        tuple(
            sorted((k, v) for k, v in answer.headers.items() if k not in ("date", "x-request-id"))
        )
        for answer in answers.values()
    }
    assert len(shapes) == 1
    # The reasons are the operator's: in the log and the metrics only.
    assert refusals().count("chain") == 4
    assert refusals().count("subject") == 1
    after = await scrape(http)
    refused = "keyloft_tokens_refused_total"
    for reason, count in (("chain", 4), ("subject", 1)):
        moved = value(after, refused, endpoint="oauth2", reason=reason) - value(
            before, refused, endpoint="oauth2", reason=reason
        )
        assert moved == count, reason

    v3 = [
        await http.post(V3_TOKEN, json={"key": client["clientKey"]}, headers=issued.header())
        for issued in attempts.values()
    ]
    assert {answer.status_code for answer in v3} == {401}
    assert len({answer.text for answer in v3}) == 1


async def test_a_client_of_another_method_is_refused_as_invalid_client(
    http: httpx.AsyncClient, org: OrgFixture, partner: Issued, refusals: Callable[[], list[str]]
) -> None:
    """Its name in the form and the right certificate prove nothing for a secret client, nor
    for a self_signed_tls_client_auth one whose key is another."""
    secret_client = await create_client(http, org, name="secret", scopes=ALL_READ)
    answer = await http.post(TOKEN, data=form(secret_client), headers=partner.header())
    assert answer.status_code == 401
    assert answer.json() == REFUSED
    stranger = self_signed(partner.certfile.parent, "registered")
    self_signed_client = await create_client(
        http,
        org,
        name="self-signed",
        scopes=ALL_READ,
        tokenEndpointAuthMethod="self_signed_tls_client_auth",
        jwks={"keys": [stranger.jwk]},
    )
    answer = await http.post(TOKEN, data=form(self_signed_client), headers=partner.header())
    assert answer.json() == REFUSED
    # The registered certificate is accepted for the self-signed client: the methods differ.
    ok = await http.post(TOKEN, data=form(self_signed_client), headers=stranger.header())
    assert ok.status_code == 200, ok.text
    assert refusals() == ["method", "certificate"]


async def test_a_node_without_the_ca_bundle_refuses_such_clients(
    http: httpx.AsyncClient,
    org: OrgFixture,
    partner: Issued,
    settings: Settings,
    database: Database,
    refusals: Callable[[], list[str]],
) -> None:
    client = await tls_client(http, org)
    bare = await build_runtime(
        settings.model_copy(update={"client_ca_certs": None}), database=database
    )
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=bare))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as other:
            answer = await other.post(TOKEN, data=form(client), headers=partner.header())
            meta = (await other.get("/.well-known/oauth-authorization-server")).json()
    finally:
        await bare.stop()
    assert answer.status_code == 401
    assert answer.json() == REFUSED
    assert refusals() == ["ca"]
    assert TLS not in meta["token_endpoint_auth_methods_supported"]


# --- metadata -------------------------------------------------------------------------------


async def test_metadata_lists_tls_client_auth_with_a_ca_bundle(http: httpx.AsyncClient) -> None:
    meta = (await http.get("/.well-known/oauth-authorization-server")).json()
    for endpoint in ("token", "introspection", "revocation"):
        methods = meta[f"{endpoint}_endpoint_auth_methods_supported"]
        assert TLS in methods
        assert "self_signed_tls_client_auth" in methods
    assert meta["tls_client_certificate_bound_access_tokens"] is True


@pytest.mark.parametrize("ca_bundle", [False], indirect=True)
async def test_metadata_lists_it_not_without_one(http: httpx.AsyncClient) -> None:
    meta = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert TLS not in meta["token_endpoint_auth_methods_supported"]
    assert "self_signed_tls_client_auth" in meta["token_endpoint_auth_methods_supported"]


# --- registering ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "tokenEndpointAuthMethod", "exactly one of tlsClientAuthSubjectDn"),
        ({DN: None}, "tokenEndpointAuthMethod", "exactly one of"),
        ({DN: SUBJECT, DNS: "partner.example"}, DNS, "were both given"),
        ({URI: "urn:x", IP: "192.0.2.1", EMAIL: "a@b.c"}, IP, "were both given"),
        ({DN: "CN=partner;;"}, DN, "RFC 4514"),
        ({DN: "partner"}, DN, "RFC 4514"),
        ({IP: "192.0.2.256"}, IP, "not an IPv4 or IPv6 address"),
        ({DNS: "*.partner.example"}, DNS, "wildcards"),
        ({URI: "partner"}, URI, "absolute URI"),
        ({EMAIL: "partner"}, EMAIL, "email address"),
        ({DN: ""}, DN, "must not be blank"),
    ],
)
async def test_a_create_without_exactly_one_good_name_is_refused_and_stores_nothing(
    http: httpx.AsyncClient, org: OrgFixture, fields: dict[str, Any], field: str, message: str
) -> None:
    body = client_body(org, tokenEndpointAuthMethod=TLS, **fields)
    answer = await http.post(CLIENTS, json=body, headers=org.auth)
    assert answer.status_code == 400, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == field
    assert message in error["message"]
    assert answer.json()["data"] is None
    assert await clients(http, org) == []


@pytest.mark.parametrize("field", NAMES)
async def test_a_name_is_refused_for_another_method(
    http: httpx.AsyncClient, org: OrgFixture, field: str
) -> None:
    answer = await http.post(CLIENTS, json=client_body(org, **{field: "x"}), headers=org.auth)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == field
    assert await clients(http, org) == []
    # null, as a client's read shows it for other methods, is no name.
    nulls = client_body(org, **dict.fromkeys(NAMES))
    assert (await http.post(CLIENTS, json=nulls, headers=org.auth)).status_code == 200


@pytest.mark.parametrize("ca_bundle", [False], indirect=True)
async def test_without_a_ca_bundle_no_client_becomes_one(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    answer = await http.post(
        CLIENTS,
        json=client_body(org, tokenEndpointAuthMethod=TLS, **{DN: SUBJECT}),
        headers=org.auth,
    )
    assert answer.status_code == 409  # well formed; the deployment is not set up for it
    [error] = answer.json()["errors"]
    assert error["field"] == "tokenEndpointAuthMethod"
    assert "KEYLOFT_CLIENT_CA_CERTS" in error["message"]
    assert await clients(http, org) == []

    client = await create_client(http, org, scopes=ALL_READ)
    before = await detail(http, org, client["clientKey"])
    switch = client_body(org, scopes=ALL_READ, tokenEndpointAuthMethod=TLS, **{DN: SUBJECT})
    put = await http.put(f"{CLIENTS}/{client['clientKey']}", json=switch, headers=org.auth)
    assert put.status_code == 409
    assert "KEYLOFT_CLIENT_CA_CERTS" in put.json()["errors"][0]["message"]
    assert await detail(http, org, client["clientKey"]) == before


async def test_an_update_with_a_bad_name_changes_nothing(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    client = await tls_client(http, org)
    key = client["clientKey"]
    before = await detail(http, org, key)
    for fields, field in (
        ({DN: "not a dn"}, DN),
        ({IP: "fe80::1::2"}, IP),
        ({DNS: "a.example", URI: "urn:a"}, URI),
        ({DN: None}, "tokenEndpointAuthMethod"),
    ):
        body = client_body(org, scopes=ALL_READ, **fields)
        answer = await http.put(f"{CLIENTS}/{key}", json=body, headers=org.auth)
        assert answer.status_code == 400, fields
        assert answer.json()["errors"][0]["field"] == field
    assert await detail(http, org, key) == before
    assert [event["action"] for event in await audit(http, org, key)] == ["client.create"]


async def test_an_update_keeps_the_name_unless_one_is_sent(
    http: httpx.AsyncClient, org: OrgFixture, partner: Issued
) -> None:
    client = await tls_client(http, org)
    key = client["clientKey"]
    renamed = client_body(org, name="renamed", scopes=ALL_READ)
    kept = await http.put(f"{CLIENTS}/{key}", json=renamed, headers=org.auth)
    assert kept.status_code == 200, kept.text
    assert kept.json()["data"][DN] == SUBJECT
    # The read sent back as it is keeps it too (the other four are null).
    echoed = await detail(http, org, key) | {"scopes": ALL_READ}
    assert (await http.put(f"{CLIENTS}/{key}", json=echoed, headers=org.auth)).status_code == 200
    by_uri = client_body(org, scopes=ALL_READ, **{URI: "spiffe://acme.example/partner"})
    changed = await http.put(f"{CLIENTS}/{key}", json=by_uri, headers=org.auth)
    assert changed.status_code == 200, changed.text
    data = changed.json()["data"]
    assert {name: data[name] for name in NAMES} == dict.fromkeys(NAMES) | {
        URI: "spiffe://acme.example/partner"
    }
    assert (await http.post(TOKEN, data=form(client), headers=partner.header())).status_code == 200
    [event, *_] = await audit(http, org, key)
    assert event["changes"][DN] == [SUBJECT, None]
    assert event["changes"][URI] == [None, "spiffe://acme.example/partner"]


async def test_a_client_switches_to_it_and_back_by_put(
    http: httpx.AsyncClient, org: OrgFixture, partner: Issued
) -> None:
    client = await create_client(http, org, scopes=ALL_READ)
    key, secret = client["clientKey"], client["clientSecret"]
    assert {name: client[name] for name in NAMES} == dict.fromkeys(NAMES)
    switch = client_body(org, scopes=ALL_READ, tokenEndpointAuthMethod=TLS, **{IP: "2001:db8::7"})
    answer = await http.put(f"{CLIENTS}/{key}", json=switch, headers=org.auth)
    assert answer.status_code == 200, answer.text
    switched = answer.json()["data"]
    assert "clientSecret" not in switched
    assert switched["tokenEndpointAuthMethod"] == TLS
    assert switched[IP] == "2001:db8::7"
    with_secret = {"grant_type": "client_credentials"}
    old = await http.post(TOKEN, data=with_secret, headers=client_basic(key, secret))
    assert old.status_code == 401
    assert (await http.post(TOKEN, data=form(client), headers=partner.header())).status_code == 200
    [event, *_] = await audit(http, org, key)
    assert event["action"] == "client.update"
    assert event["changes"]["tokenEndpointAuthMethod"] == ["client_secret_basic", TLS]
    assert event["changes"][IP] == [None, "2001:db8::7"]

    back = client_body(org, scopes=ALL_READ, tokenEndpointAuthMethod="client_secret_basic")
    answer = await http.put(f"{CLIENTS}/{key}", json=back, headers=org.auth)
    assert answer.status_code == 200, answer.text
    restored = answer.json()["data"]
    assert restored["clientSecret"]
    assert {name: restored[name] for name in NAMES} == dict.fromkeys(NAMES)
    assert (await http.post(TOKEN, data=form(client), headers=partner.header())).status_code == 401
    fresh = client_basic(key, restored["clientSecret"])
    assert (await http.post(TOKEN, data=with_secret, headers=fresh)).status_code == 200
    [event, *_] = await audit(http, org, key)
    assert event["changes"]["tokenEndpointAuthMethod"] == [TLS, "client_secret_basic"]
    assert event["changes"][IP] == ["2001:db8::7", None]
    assert event["changes"]["secret"] == [None, "issued"]


async def test_it_has_no_secret_to_rotate(http: httpx.AsyncClient, org: OrgFixture) -> None:
    client = await tls_client(http, org)
    answer = await http.post(f"{CLIENTS}/{client['clientKey']}/secret", json={}, headers=org.auth)
    assert answer.status_code == 400
    assert "tls_client_auth" in answer.json()["errors"][0]["message"]

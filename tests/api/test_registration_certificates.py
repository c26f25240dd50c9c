"""Registering mutual-TLS clients (RFC 8705 metadata through RFC 7591): tls_client_auth with its
one certificate name (``tls_client_auth_subject_dn`` … ``_san_email``), self_signed_tls_client_auth
with its certificate in ``jwks``; each then authenticates with its certificate, passed by the
trusted TLS terminator, and is answered with the name it registered."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from keyloft.config import Settings
from tests.support.api import ISSUER, SERVER_SECRET, OrgFixture
from tests.support.certificates import HEADER, CertificateAuthority, self_signed
from tests.support.registration import (
    bearer,
    register,
    registered,
    update_body,
    uri_path,
    v3_client,
)
from tests.support.registration import metadata as registration

TOKEN = "/oauth2/token"


@pytest.fixture
def pki(tmp_path: Path) -> CertificateAuthority:
    directory = tmp_path / "pki"
    directory.mkdir()
    return CertificateAuthority(directory, "client-ca")


@pytest.fixture
def settings(database_url: str, pki: CertificateAuthority) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SERVER_SECRET,
        issuer=ISSUER,
        client_cert_header=HEADER,
        trusted_proxies="127.0.0.1",  # the test transport's peer: the TLS terminator
        client_ca_certs=pki.certfile,
        _env_file=None,
    )


@pytest.mark.parametrize(
    ("name", "value", "v3_field", "issue"),
    [
        (
            "subject_dn",
            "CN=partner,O=Acme,C=DE",
            "tlsClientAuthSubjectDn",
            {"subject": "CN=partner,O=Acme,C=DE"},
        ),
        ("san_dns", "partner.example", "tlsClientAuthSanDns", {"dns": ["partner.example"]}),
        (
            "san_uri",
            "spiffe://acme.example/pay",
            "tlsClientAuthSanUri",
            {"uris": ["spiffe://acme.example/pay"]},
        ),
        ("san_ip", "2001:db8::7", "tlsClientAuthSanIp", {"ips": ["2001:db8::7"]}),
        (
            "san_email",
            "ops@partner.example",
            "tlsClientAuthSanEmail",
            {"emails": ["ops@partner.example"]},
        ),
    ],
)
async def test_tls_client_auth_with_each_name(
    http: httpx.AsyncClient,
    org: OrgFixture,
    pki: CertificateAuthority,
    name: str,
    value: str,
    v3_field: str,
    issue: dict[str, object],
) -> None:
    field = f"tls_client_auth_{name}"
    body = await registered(
        http, org, token_endpoint_auth_method="tls_client_auth", **{field: value}
    )
    assert "client_secret" not in body
    assert body["token_endpoint_auth_method"] == "tls_client_auth"
    assert body[field] == value
    assert not [other for other in body if other.startswith("tls_client_auth_") and other != field]
    assert (await v3_client(http, org, body["client_id"]))[v3_field] == value

    partner = pki.issue("partner", **issue)  # type: ignore[arg-type]
    form = {"grant_type": "client_credentials", "client_id": body["client_id"]}
    assert (await http.post(TOKEN, data=form, headers=partner.header())).status_code == 200
    stranger = pki.issue("stranger")
    assert (await http.post(TOKEN, data=form, headers=stranger.header())).status_code == 401


async def test_tls_client_auth_without_a_name_and_an_update_without_one(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    nameless = await register(
        http, org.auth, registration(org, token_endpoint_auth_method="tls_client_auth")
    )
    assert nameless.status_code == 400
    assert "tls_client_auth_subject_dn" in nameless.json()["error_description"]
    made = await registered(
        http, org, token_endpoint_auth_method="tls_client_auth", tls_client_auth_san_dns="a.test"
    )
    # Full replacement: the name left out is not kept, and the client needs one.
    body = update_body(made, tls_client_auth_san_dns=None)
    answer = await http.put(
        uri_path(made), json=body, headers=bearer(made["registration_access_token"])
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_client_metadata"


async def test_self_signed_tls_client_auth_with_its_certificate_in_jwks(
    http: httpx.AsyncClient, org: OrgFixture, tmp_path: Path
) -> None:
    mine = self_signed(tmp_path, "mine")
    body = await registered(
        http,
        org,
        token_endpoint_auth_method="self_signed_tls_client_auth",
        jwks={"keys": [mine.jwk]},
        tls_client_certificate_bound_access_tokens=True,
    )
    assert body["token_endpoint_auth_method"] == "self_signed_tls_client_auth"
    assert body["jwks"]["keys"][0]["x5c"] == mine.jwk["x5c"]
    assert body["tls_client_certificate_bound_access_tokens"] is True
    form = {"grant_type": "client_credentials", "client_id": body["client_id"]}
    minted = await http.post(TOKEN, data=form, headers=mine.header())
    assert minted.status_code == 200, minted.text
    other = self_signed(tmp_path, "other")
    assert (await http.post(TOKEN, data=form, headers=other.header())).status_code == 401

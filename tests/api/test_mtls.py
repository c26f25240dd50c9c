"""Mutual TLS (RFC 8705) behind a TLS terminator: the client certificate in the header named by
KEYLOFT_CLIENT_CERT_HEADER, believed only from a trusted proxy; self_signed_tls_client_auth
(the certificate, registered in the client's jwks, proves the client); certificate-bound
tokens (cnf x5t#S256) refused with any other certificate at the API and the decision point."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from keyloft.config import Settings
from tests.support.api import ISSUER, SERVER_SECRET, OrgFixture, client_basic, create_client

HEADER = "X-SSL-Client-Cert"
ALL_READ = [{"entityId": 2, "permission": "READ", "resources": []}]
SCOPES = "/v3/integrations/scopes"


class Certificate:
    """A self-signed client certificate, and how a TLS terminator passes it on."""

    def __init__(self, name: str = "partner") -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        self.der = self.cert.public_bytes(Encoding.DER)
        self.x5t = base64.urlsafe_b64encode(hashlib.sha256(self.der).digest()).rstrip(b"=").decode()
        self.jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {
            "x5c": [base64.b64encode(self.der).decode()]
        }

    @property
    def header(self) -> dict[str, str]:
        return {HEADER: quote(self.cert.public_bytes(Encoding.PEM).decode(), safe="")}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SERVER_SECRET,
        issuer=ISSUER,
        client_cert_header=HEADER,
        trusted_proxies="127.0.0.1",  # the test transport's peer: the TLS terminator
        _env_file=None,
    )


@pytest.fixture
def mine() -> Certificate:
    return Certificate()


async def test_a_registered_certificate_authenticates_its_client(
    http: httpx.AsyncClient, org: OrgFixture, mine: Certificate
) -> None:
    client = await create_client(
        http,
        org,
        scopes=ALL_READ,
        tokenEndpointAuthMethod="self_signed_tls_client_auth",
        jwks={"keys": [mine.jwk]},
    )
    assert "clientSecret" not in client
    key = client["clientKey"]
    form = {"grant_type": "client_credentials", "client_id": key}
    answer = await http.post("/oauth2/token", data=form, headers=mine.header)
    assert answer.status_code == 200, answer.text
    v3 = await http.post("/v3/oauth/token/generate", json={"key": key}, headers=mine.header)
    assert v3.status_code == 200, v3.text
    refused = [
        await http.post("/oauth2/token", data=form),
        await http.post("/oauth2/token", data=form, headers=Certificate().header),
        await http.post("/oauth2/token", data=form, headers={HEADER: "garbage"}),
    ]
    for answer in refused:
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_client"
    # Another certificate is refused exactly as a wrong secret is: nothing says why.
    assert refused[1].json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }


async def test_a_certificate_from_an_untrusted_peer_is_not_believed(
    app: Any, org: OrgFixture, mine: Certificate, http: httpx.AsyncClient
) -> None:
    client = await create_client(
        http,
        org,
        scopes=ALL_READ,
        tokenEndpointAuthMethod="self_signed_tls_client_auth",
        jwks={"keys": [mine.jwk]},
    )
    stranger = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=stranger, base_url=ISSUER) as direct:
        answer = await direct.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": client["clientKey"]},
            headers=mine.header,
        )
    assert answer.status_code == 401


async def test_certificate_bound_tokens_need_their_certificate_everywhere(
    http: httpx.AsyncClient, org: OrgFixture, mine: Certificate
) -> None:
    client = await create_client(
        http, org, scopes=ALL_READ, tlsClientCertificateBoundAccessTokens=True
    )
    auth = client_basic(client["clientKey"], client["clientSecret"])
    form = {"grant_type": "client_credentials"}
    without = await http.post("/oauth2/token", data=form, headers=auth)
    assert without.status_code == 400
    answer = await http.post("/oauth2/token", data=form, headers=auth | mine.header)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert answer.json()["token_type"] == "Bearer"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": mine.x5t}

    bearer = {"Authorization": f"Bearer {token}"}
    assert (await http.get(SCOPES, headers=bearer | mine.header)).status_code == 200
    for other in ({}, Certificate().header):
        refused = await http.get(SCOPES, headers=bearer | other)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["code"] == 3003

    body = {"token": token, "method": "GET", "path": "/v3/customers"}
    pem = mine.header[HEADER]
    allowed = (await http.post("/v3/oauth/check", json=body | {"certificate": pem})).json()
    assert allowed["data"]["allowed"] is True
    for certificate in (None, Certificate().header[HEADER], "garbage"):
        refused_check = await http.post("/v3/oauth/check", json=body | {"certificate": certificate})
        assert refused_check.json()["data"]["reason"] == "invalid_token"
    forwarded = bearer | {"X-Original-Method": "GET", "X-Original-URI": "/v3/customers"}
    assert (await http.get("/v3/oauth/check", headers=forwarded | mine.header)).status_code == 200
    assert (await http.get("/v3/oauth/check", headers=forwarded)).status_code == 401

    introspected = await http.post("/oauth2/introspect", data={"token": token}, headers=auth)
    assert introspected.json()["cnf"] == {"x5t#S256": mine.x5t}
    # Bound to a certificate, it is still a bearer token by its scheme (DPoP is for cnf.jkt).
    assert introspected.json()["token_type"] == "Bearer"


async def test_a_self_signed_client_needs_its_certificate_in_jwks(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    from tests.support.api import client_body

    answer = await http.post(
        "/v3/integrations/clients",
        json=client_body(org, tokenEndpointAuthMethod="self_signed_tls_client_auth"),
        headers=org.auth,
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "tokenEndpointAuthMethod"


async def test_metadata_names_mutual_tls(http: httpx.AsyncClient) -> None:
    meta = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert "self_signed_tls_client_auth" in meta["token_endpoint_auth_methods_supported"]
    assert meta["tls_client_certificate_bound_access_tokens"] is True

"""Mutual TLS (RFC 8705) when ``keyloft serve`` terminates TLS itself: the certificate the
client presented on the connection (the ASGI TLS extension) is the client's certificate, and a
certificate header from any peer but a trusted proxy is ignored; a trusted proxy's header
speaks for its client, even over a connection with a certificate of the proxy's own. The real
TLS server: tests/integration/test_direct_tls.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest

from keyloft.config import Settings
from keyloft.web.tls import with_tls
from tests.support.api import ISSUER, SERVER_SECRET, OrgFixture, client_basic, create_client
from tests.support.certificates import Issued, self_signed

HEADER = "X-SSL-Client-Cert"
ALL_READ = [{"entityId": 2, "permission": "READ", "resources": []}]
SCOPES = "/v3/integrations/scopes"
FORM = {"grant_type": "client_credentials"}


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    """The header setting of docs/dpop.md, the test transport's peer (127.0.0.1) a trusted
    proxy; a test may parametrize other settings indirectly (a dict of them)."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return Settings(
        database_url=database_url,
        secret_key=SERVER_SECRET,
        issuer=ISSUER,
        **({"client_cert_header": HEADER, "trusted_proxies": "127.0.0.1"} | overrides),
        _env_file=None,
    )


UNTRUSTED_PEER = {"trusted_proxies": "10.9.9.9"}


def _header(certificate: Issued) -> dict[str, str]:
    return {HEADER: quote(certificate.pem.decode(), safe="")}


def _extension(certificate: Issued | None) -> dict[str, Any]:
    chain = [certificate.pem.decode()] if certificate is not None else []
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": certificate.subject if certificate is not None else None,
        "client_cert_error": None,
        "tls_version": 0x0304,
        "cipher_suite": 0x1301,
    }


class Connections:
    """Clients of the app as if over a TLS connection presenting a certificate (or none)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._open: list[httpx.AsyncClient] = []

    def presenting(self, certificate: Issued | None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=with_tls(self.app, _extension(certificate)))
        client = httpx.AsyncClient(transport=transport, base_url=ISSUER)
        self._open.append(client)
        return client

    async def close(self) -> None:
        for client in self._open:
            await client.aclose()


@pytest.fixture
async def tls(app: Any) -> AsyncIterator[Connections]:
    connections = Connections(app)
    yield connections
    await connections.close()


@pytest.fixture
def mine(tmp_path: Path) -> Issued:
    return self_signed(tmp_path, "mine")


@pytest.fixture
def other(tmp_path: Path) -> Issued:
    return self_signed(tmp_path, "other")


async def _bound_client(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, str]:
    client = await create_client(
        http, org, scopes=ALL_READ, tlsClientCertificateBoundAccessTokens=True
    )
    return client_basic(client["clientKey"], client["clientSecret"])


@pytest.mark.parametrize("settings", [UNTRUSTED_PEER], indirect=True)
async def test_the_connections_certificate_binds_and_an_untrusted_header_is_ignored(
    http: httpx.AsyncClient, org: OrgFixture, tls: Connections, mine: Issued, other: Issued
) -> None:
    auth = await _bound_client(http, org)
    # The header of a peer that is no trusted proxy names another certificate: ignored.
    answer = await tls.presenting(mine).post(
        "/oauth2/token", data=FORM, headers=auth | _header(other)
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": mine.x5t_s256}

    bearer = {"Authorization": f"Bearer {token}"}
    assert (await tls.presenting(mine).get(SCOPES, headers=bearer)).status_code == 200
    # Another certificate on the connection is not rescued by a header naming the right one.
    stolen = await tls.presenting(other).get(SCOPES, headers=bearer | _header(mine))
    assert stolen.status_code == 401, stolen.text
    assert stolen.json()["errors"][0]["code"] == 3003

    forwarded = bearer | {"X-Original-Method": "GET", "X-Original-URI": "/v3/customers"}
    check = tls.presenting(mine)
    assert (await check.get("/v3/oauth/check", headers=forwarded)).status_code == 200
    refused = await tls.presenting(other).get("/v3/oauth/check", headers=forwarded | _header(mine))
    assert refused.status_code == 401


async def test_a_trusted_proxys_header_speaks_for_its_client_over_the_proxys_own_tls(
    http: httpx.AsyncClient, org: OrgFixture, tls: Connections, mine: Issued, other: Issued
) -> None:
    """A gateway that connects with its own certificate (``other``) and passes on its
    client's (``mine``): the client's binds and is checked, the gateway's never stands in."""
    auth = await _bound_client(http, org)
    gateway = tls.presenting(other)
    answer = await gateway.post("/oauth2/token", data=FORM, headers=auth | _header(mine))
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": mine.x5t_s256}

    bearer = {"Authorization": f"Bearer {token}"}
    forwarded = bearer | {"X-Original-Method": "GET", "X-Original-URI": "/v3/customers"}
    allowed = await gateway.get("/v3/oauth/check", headers=forwarded | _header(mine))
    assert allowed.status_code == 200, allowed.text
    # Without the header, the gateway's own certificate is not the token's.
    assert (await gateway.get("/v3/oauth/check", headers=forwarded)).status_code == 401
    assert (await gateway.get(SCOPES, headers=bearer | _header(other))).status_code == 401


async def test_a_tls_connection_without_a_certificate_leaves_the_header_as_it_was(
    http: httpx.AsyncClient, org: OrgFixture, tls: Connections, mine: Issued
) -> None:
    auth = await _bound_client(http, org)
    anonymous = tls.presenting(None)
    without = await anonymous.post("/oauth2/token", data=FORM, headers=auth)
    assert without.status_code == 400, without.text
    assert without.json()["error"] == "invalid_request"
    answer = await anonymous.post("/oauth2/token", data=FORM, headers=auth | _header(mine))
    assert answer.status_code == 200, answer.text
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": mine.x5t_s256}


@pytest.mark.parametrize(
    "settings", [{"client_cert_header": None, "trusted_proxies": ""}], indirect=True
)
async def test_the_connections_certificate_needs_no_header_setting(
    http: httpx.AsyncClient, org: OrgFixture, tls: Connections, mine: Issued
) -> None:
    auth = await _bound_client(http, org)
    answer = await tls.presenting(mine).post("/oauth2/token", data=FORM, headers=auth)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": mine.x5t_s256}
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await tls.presenting(mine).get(SCOPES, headers=bearer)).status_code == 200
    assert (await http.get(SCOPES, headers=bearer | _header(mine))).status_code == 401

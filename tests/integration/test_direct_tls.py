"""Mutual TLS (RFC 8705) with no terminator in front: a real ``keyloft serve --ssl-certfile
--ssl-keyfile --ssl-ca-certs`` asks for a client certificate without requiring one. Requests
without a certificate work; a certificate-bound token is minted for the certificate of the
connection and accepted only on connections presenting it; a certificate of an unknown CA ends
the handshake; a self-signed certificate gets through only when placed in the CA file, as
docs/deploy.md says.

The server, its CA and the clients' certificates are made here; the store is SQLite.
"""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest

from tests.integration.nodes import Node, deployment, free_port, stop
from tests.support.certificates import CertificateAuthority, Issued, self_signed

pytestmark = pytest.mark.slow

SCOPES = "/v3/integrations/scopes"
ALL_READ = [{"entityId": 2, "permission": "READ", "resources": []}]
HEADER = "X-SSL-Client-Cert"
FORM = {"grant_type": "client_credentials"}


@dataclass
class Stack:
    url: str
    port: int
    admin: tuple[str, str]
    till_id: int
    ca: CertificateAuthority
    stranger_ca: CertificateAuthority
    selfie: Issued  # self-signed, and in the CA file
    node: Node

    def context(self, certificate: Issued | None = None) -> ssl.SSLContext:
        """Trusting only the test CA, presenting ``certificate``."""
        if certificate is None:
            return ssl.create_default_context(cafile=str(self.ca.certfile))
        return certificate.client_context(self.ca.certfile)

    def tls(self, certificate: Issued | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.context(certificate), timeout=10)


def _wait_ready(url: str, node: Node, context: ssl.SSLContext, within: float) -> None:
    """Until /health/ready answers ok over TLS (no client certificate)."""
    deadline = time.monotonic() + within
    with httpx.Client(verify=context, timeout=1) as http:
        while time.monotonic() < deadline:
            if node.process.poll() is not None:
                raise RuntimeError(f"keyloft serve exited: {node.log.read_text()[-2000:]}")
            try:
                if http.get(f"{url}/health/ready").json().get("status") == "ok":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"not ready within {within} s: {node.log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("direct-tls")
    ca = CertificateAuthority(tmp, "ca")
    stranger_ca = CertificateAuthority(tmp, "stranger-ca")
    server = ca.issue("server", server=True)
    selfie = self_signed(tmp, "selfie")
    ca_file = tmp / "client-cas.pem"
    ca_file.write_bytes(ca.issued.pem + selfie.pem)
    with deployment(f"sqlite:///{tmp}/keyloft.db", None, tmp, nodes=0) as running:
        port = free_port()
        url = f"https://127.0.0.1:{port}"
        env = running.env | {
            "KEYLOFT_ISSUER": url,
            "KEYLOFT_CLIENT_CERT_HEADER": HEADER,
            # No proxy here: the test client (127.0.0.1) is an ordinary peer.
            "KEYLOFT_TRUSTED_PROXIES": "10.9.9.9",
            # The CA file also holds a self-signed client certificate, which is no issuer
            # for tls_client_auth: that setting names the CA alone (docs/deploy.md).
            "KEYLOFT_CLIENT_CA_CERTS": str(ca.certfile),
        }
        log = tmp / "keyloft.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "keyloft",
                    "serve",
                    "--port",
                    str(port),
                    "--ssl-certfile",
                    str(server.certfile),
                    "--ssl-keyfile",
                    str(server.keyfile),
                    "--ssl-ca-certs",
                    str(ca_file),
                ],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        node = Node(url, process, log)
        try:
            stack = Stack(url, port, running.admin, running.till_id, ca, stranger_ca, selfie, node)
            _wait_ready(url, node, stack.context(), within=60)
            yield stack
        finally:
            stop([node])


def _create(stack: Stack, name: str, **fields: Any) -> dict[str, Any]:
    """A client created over TLS, without a client certificate, by the org admin."""
    body = {
        "name": name,
        "description": "direct mutual TLS",
        "expirationTokenTime": 600,
        "defaultTillId": stack.till_id,
        "scopes": ALL_READ,
    } | fields
    with stack.tls() as http:
        created = http.post("/v3/integrations/clients", json=body, auth=stack.admin)
    assert created.status_code == 200, created.text
    data: dict[str, Any] = created.json()["data"]
    return data


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_requests_without_a_client_certificate_work(stack: Stack) -> None:
    client = _create(stack, "plain secret")
    with stack.tls() as http:
        health = http.get("/health/live")
        answer = http.post(
            "/oauth2/token", data=FORM, auth=(client["clientKey"], client["clientSecret"])
        )
    assert health.status_code == 200, health.text
    assert answer.status_code == 200, answer.text
    assert "cnf" not in _claims(answer.json()["access_token"])


def test_a_certificate_bound_token_needs_the_certificate_of_its_connection(
    stack: Stack,
) -> None:
    mine = stack.ca.issue("bound-partner")
    other = stack.ca.issue("bound-thief")
    client = _create(stack, "bound", tlsClientCertificateBoundAccessTokens=True)
    auth = (client["clientKey"], client["clientSecret"])

    with stack.tls() as http:
        without = http.post("/oauth2/token", data=FORM, auth=auth)
    assert without.status_code == 400, without.text
    assert without.json()["error"] == "invalid_request"

    with stack.tls(mine) as http:
        answer = http.post("/oauth2/token", data=FORM, auth=auth)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert _claims(token)["cnf"] == {"x5t#S256": mine.x5t_s256}

    bearer = {"Authorization": f"Bearer {token}"}
    check = bearer | {"X-Original-Method": "GET", "X-Original-URI": "/v3/customers"}
    with stack.tls(mine) as http:
        allowed_check = http.get("/v3/oauth/check", headers=check)
        allowed_api = http.get(SCOPES, headers=bearer)
    assert allowed_check.status_code == 200, allowed_check.text
    assert allowed_api.status_code == 200, allowed_api.text

    with stack.tls(other) as http:
        stolen_check = http.get("/v3/oauth/check", headers=check)
        stolen_api = http.get(SCOPES, headers=bearer)
        # A header from a peer that is no trusted proxy: the connection's certificate counts.
        claimed = http.get(SCOPES, headers=bearer | {HEADER: quote(mine.pem.decode(), safe="")})
    with stack.tls() as http:
        bare_check = http.get("/v3/oauth/check", headers=check)
        bare_api = http.get(SCOPES, headers=bearer)
    for refused in (stolen_check, bare_check):
        assert refused.status_code == 401, refused.text
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    for refused in (stolen_api, bare_api, claimed):
        assert refused.status_code == 401, refused.text
        assert refused.json()["errors"][0]["code"] == 3003


def test_a_self_signed_certificate_placed_in_the_ca_file_authenticates_its_client(
    stack: Stack, tmp_path: Path
) -> None:
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(stack.selfie.key.public_key(), as_dict=True)
    client = _create(
        stack,
        "self-signed",
        tokenEndpointAuthMethod="self_signed_tls_client_auth",
        jwks={"keys": [jwk | {"x5c": [base64.b64encode(stack.selfie.der).decode()]}]},
    )
    form = FORM | {"client_id": client["clientKey"]}
    with stack.tls(stack.selfie) as http:
        answer = http.post("/oauth2/token", data=form)
    assert answer.status_code == 200, answer.text
    with stack.tls(stack.ca.issue("not-registered")) as http:
        refused = http.post("/oauth2/token", data=form)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"
    # Not in the CA file: the handshake ends before any request.
    outsider = self_signed(tmp_path, "outsider")
    with pytest.raises(httpx.HTTPError), stack.tls(outsider) as http:
        http.post("/oauth2/token", data=form)


def _exchange(stack: Stack, context: ssl.SSLContext) -> bytes:
    """One GET /health/live over a fresh TLS connection: what the server answered."""
    with (
        socket.create_connection(("127.0.0.1", stack.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as connection,
    ):
        connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def test_a_certificate_of_an_unknown_ca_ends_the_handshake(stack: Stack) -> None:
    stranger = stack.stranger_ca.issue("stranger")
    assert _exchange(stack, stack.context(stack.ca.issue("known"))).startswith(b"HTTP/1.1 200")

    # TLS 1.2: the client's certificate is part of the handshake, which fails.
    tls12 = stack.context(stranger)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        _exchange(stack, tls12)
    # TLS 1.3: the client finishes its side before the server has checked the certificate;
    # the server then drops the connection: no answer ever comes.
    tls13 = stack.context(stranger)
    tls13.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        received = _exchange(stack, tls13)
    except (ssl.SSLError, ConnectionResetError):
        received = b""
    assert received == b""
    with pytest.raises(httpx.HTTPError), stack.tls(stranger) as http:
        http.get("/health/live")

    # The server is unharmed.
    assert _exchange(stack, stack.context()).startswith(b"HTTP/1.1 200")
    assert stack.node.process.poll() is None

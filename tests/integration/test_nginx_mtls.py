"""Mutual TLS (RFC 8705) end to end: a real nginx terminates TLS, asks for a client certificate
(``ssl_verify_client optional_no_ca``) and passes it on in X-SSL-Client-Cert
(``$ssl_client_escaped_cert``) to a real ``keyloft serve`` that believes that header from
127.0.0.1 only — the set-up of docs/dpop.md, with self_signed_tls_client_auth,
tls_client_auth (a certificate of the CA in KEYLOFT_CLIENT_CA_CERTS carrying the registered
subject; nginx itself checks no issuer) and certificate-bound tokens (cnf x5t#S256).

Skipped with the reason when nginx is not installed, except under CI (CI=true), where it fails.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.nodes import Node, deployment, free_port, stop, wait_ready
from tests.integration.test_nginx_gateway import _nginx, _wait_port
from tests.support.certificates import CertificateAuthority, Issued, self_signed

pytestmark = pytest.mark.slow

HEADER = "X-SSL-Client-Cert"
SCOPES = "/v3/integrations/scopes"
ALL_READ = [{"entityId": 2, "permission": "READ", "resources": []}]
# A loopback address that is not the trusted proxy: a caller reaching Keyloft directly.
STRANGER = "127.0.0.9"

# The two mutual TLS lines are those of docs/dpop.md; the rest is the test's addresses and paths.
NGINX_CONF = """\
worker_processes 1;
error_log {tmp}/error.log info;
{user}
events {{ worker_connections 64; }}

http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    upstream keyloft {{ server 127.0.0.1:{keyloft_port}; }}

    server {{
        listen 127.0.0.1:{nginx_port} ssl;
        server_name 127.0.0.1 localhost;

        ssl_certificate {tmp}/server.pem;
        ssl_certificate_key {tmp}/server.key;
        ssl_verify_client optional_no_ca;

        location / {{
            proxy_pass http://keyloft;
            proxy_set_header Host $http_host;
            proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        }}
    }}
}}
"""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Certificate:
    """A self-signed EC certificate and its key, written to files a TLS peer can load."""

    def __init__(self, directory: Path, name: str, *, server: bool = False) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
        )
        if server:
            names: list[x509.GeneralName] = [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(key, hashes.SHA256())
        self.pem = cert.public_bytes(serialization.Encoding.PEM)
        self.der = cert.public_bytes(serialization.Encoding.DER)
        self.x5t = _b64url(hashlib.sha256(self.der).digest())
        self.jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {
            "x5c": [base64.b64encode(self.der).decode()]
        }
        self.certfile = directory / f"{name}.pem"
        self.keyfile = directory / f"{name}.key"
        self.certfile.write_bytes(self.pem)
        self.keyfile.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    @property
    def header(self) -> dict[str, str]:
        """The certificate as nginx's $ssl_client_escaped_cert passes it on."""
        return {HEADER: quote(self.pem.decode(), safe="")}


@dataclass
class Stack:
    url: str  # nginx, https
    keyloft: str  # Keyloft's own port, plain http
    admin: tuple[str, str]
    till_id: int
    server: Certificate
    tmp: Path
    ca: CertificateAuthority
    """The CA of KEYLOFT_CLIENT_CA_CERTS: tls_client_auth certificates chain to it."""

    def tls(self, certificate: Certificate | Issued | None = None) -> httpx.Client:
        """A client trusting only the test's server certificate, presenting ``certificate``."""
        context = ssl.create_default_context(cafile=str(self.server.certfile))
        if certificate is not None:
            context.load_cert_chain(certificate.certfile, certificate.keyfile)
        return httpx.Client(base_url=self.url, verify=context, timeout=10)

    def certificate(self, name: str) -> Certificate:
        return Certificate(self.tmp, name)


def _serve(env: dict[str, str], tmp: Path) -> Node:
    port = free_port()
    log = tmp / "keyloft.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "keyloft", "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Node(f"http://127.0.0.1:{port}", process, log)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = _nginx()
    tmp = tmp_path_factory.mktemp("nginx-mtls")
    server = Certificate(tmp, "server", server=True)
    ca = CertificateAuthority(tmp, "client-ca", subject="CN=Partners CA,O=Keyloft Tests")
    with deployment(f"sqlite:///{tmp}/keyloft.db", None, tmp, nodes=0) as running:
        settings = {
            "KEYLOFT_CLIENT_CERT_HEADER": HEADER,
            "KEYLOFT_TRUSTED_PROXIES": "127.0.0.1",
            "KEYLOFT_CLIENT_CA_CERTS": str(ca.certfile),
        }
        node = _serve(running.env | settings, tmp)
        nginx: subprocess.Popen[bytes] | None = None
        try:
            wait_ready(node, within=60)
            nginx_port = free_port()
            conf = tmp / "nginx.conf"
            conf.write_text(
                NGINX_CONF.format(
                    tmp=tmp,
                    # As root the workers would otherwise drop to "nobody", who may not read tmp.
                    user="user root;" if os.geteuid() == 0 else "",
                    keyloft_port=int(node.url.rsplit(":", 1)[1]),
                    nginx_port=nginx_port,
                )
            )
            nginx_log = tmp / "nginx.out"
            with nginx_log.open("wb") as sink:
                nginx = subprocess.Popen(
                    [
                        binary,
                        "-p",
                        str(tmp),
                        "-e",
                        str(tmp / "error.log"),
                        "-c",
                        str(conf),
                        "-g",
                        f"daemon off; pid {tmp}/nginx.pid;",
                    ],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            # Plain HTTP to the TLS port is answered (400) once nginx listens.
            _wait_port(nginx_port, nginx, nginx_log)
            yield Stack(
                f"https://127.0.0.1:{nginx_port}",
                node.url,
                running.admin,
                running.till_id,
                server,
                tmp,
                ca,
            )
        finally:
            if nginx is not None and nginx.poll() is None:
                os.killpg(nginx.pid, signal.SIGQUIT)
                try:
                    nginx.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(nginx.pid, signal.SIGKILL)
                    nginx.wait(5)
            stop([node])


def _create(stack: Stack, name: str, **fields: Any) -> dict[str, Any]:
    """A client created through nginx by the org admin."""
    body = {
        "name": name,
        "description": "mutual TLS behind nginx",
        "expirationTokenTime": 600,
        "defaultTillId": stack.till_id,
        "scopes": ALL_READ,
    } | fields
    with stack.tls() as http:
        created = http.post("/v3/integrations/clients", json=body, auth=stack.admin)
    assert created.status_code == 200, created.text
    data: dict[str, Any] = created.json()["data"]
    return data


def test_a_registered_certificate_authenticates_its_client_through_nginx(stack: Stack) -> None:
    mine = stack.certificate("partner")
    other = stack.certificate("stranger")
    client = _create(
        stack,
        "self-signed",
        tokenEndpointAuthMethod="self_signed_tls_client_auth",
        jwks={"keys": [mine.jwk]},
    )
    assert "clientSecret" not in client
    form = {"grant_type": "client_credentials", "client_id": client["clientKey"]}

    with stack.tls(mine) as http:
        answer = http.post("/oauth2/token", data=form)
    assert answer.status_code == 200, answer.text
    assert answer.json()["access_token"]

    with stack.tls(other) as http:
        wrong = http.post("/oauth2/token", data=form)
    with stack.tls() as http:
        none = http.post("/oauth2/token", data=form)
        # nginx replaces the header: claiming the registered certificate in it proves nothing.
        claimed = http.post("/oauth2/token", data=form, headers=mine.header)
    for refused in (wrong, none, claimed):
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_client"


def test_a_certificate_bound_token_needs_its_certificate_through_nginx(stack: Stack) -> None:
    mine = stack.certificate("bound")
    other = stack.certificate("thief")
    client = _create(stack, "bound", tlsClientCertificateBoundAccessTokens=True)
    auth = (client["clientKey"], client["clientSecret"])
    form = {"grant_type": "client_credentials"}

    with stack.tls() as http:
        without = http.post("/oauth2/token", data=form, auth=auth)
    assert without.status_code == 400, without.text
    assert without.json()["error"] == "invalid_request"

    with stack.tls(mine) as http:
        answer = http.post("/oauth2/token", data=form, auth=auth)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": _b64url(hashlib.sha256(mine.der).digest())}

    bearer = {"Authorization": f"Bearer {token}"}
    with stack.tls(mine) as http:
        allowed = http.get(SCOPES, headers=bearer)
    assert allowed.status_code == 200, allowed.text
    with stack.tls(other) as http:
        stolen = http.get(SCOPES, headers=bearer)
    with stack.tls() as http:
        bare = http.get(SCOPES, headers=bearer)
        claimed = http.get(SCOPES, headers=bearer | mine.header)
    for refused in (stolen, bare, claimed):
        assert refused.status_code == 401, refused.text


def test_a_caller_reaching_keyloft_directly_cannot_claim_a_certificate(stack: Stack) -> None:
    """Keyloft's own port answers any loopback address; only 127.0.0.1 (nginx) is believed."""
    mine = stack.certificate("direct")
    client = _create(
        stack,
        "direct",
        tokenEndpointAuthMethod="self_signed_tls_client_auth",
        jwks={"keys": [mine.jwk]},
    )
    form = {"grant_type": "client_credentials", "client_id": client["clientKey"]}
    stranger = httpx.HTTPTransport(local_address=STRANGER)
    with httpx.Client(base_url=stack.keyloft, transport=stranger, timeout=10) as http:
        forged = http.post("/oauth2/token", data=form, headers=mine.header)
    assert forged.status_code == 401, forged.text
    assert forged.json()["error"] == "invalid_client"
    # The same header from the trusted proxy's address is believed: the refusal above is the
    # caller's address, not the header.
    with httpx.Client(base_url=stack.keyloft, timeout=10) as http:
        trusted = http.post("/oauth2/token", data=form, headers=mine.header)
    assert trusted.status_code == 200, trusted.text


def test_a_tls_client_auth_client_mints_with_a_certificate_of_the_ca_through_nginx(
    stack: Stack,
) -> None:
    subject = "CN=partner.example,O=Partner AG,C=CH"
    client = _create(
        stack,
        "pki",
        tokenEndpointAuthMethod="tls_client_auth",
        tlsClientAuthSubjectDn=subject,
        tlsClientCertificateBoundAccessTokens=True,
    )
    assert "clientSecret" not in client
    issued = stack.ca.issue("pki-partner", subject=subject)
    form = {"grant_type": "client_credentials", "client_id": client["clientKey"]}

    with stack.tls(issued) as http:
        answer = http.post("/oauth2/token", data=form)
        v3 = http.post("/v3/oauth/token/generate", json={"key": client["clientKey"]})
    assert answer.status_code == 200, answer.text
    assert v3.status_code == 200, v3.text
    token = answer.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": issued.x5t_s256}
    with stack.tls(issued) as http:
        assert http.get(SCOPES, headers={"Authorization": f"Bearer {token}"}).status_code == 200

    # The same subject on a self-signed certificate, or from a CA not in the bundle: refused,
    # as is another subject of the right CA, alike.
    impostor = self_signed(stack.tmp, "pki-impostor", subject=subject)
    foreign = CertificateAuthority(
        stack.tmp, "foreign-ca", subject="CN=Partners CA,O=Keyloft Tests"
    )
    stranger = foreign.issue("pki-stranger", subject=subject)
    other = stack.ca.issue("pki-other", subject="CN=other.example,O=Partner AG,C=CH")
    refused = []
    for certificate in (impostor, stranger, other):
        with stack.tls(certificate) as http:
            refused.append(http.post("/oauth2/token", data=form))
    with stack.tls() as http:
        refused.append(http.post("/oauth2/token", data=form))
        # nginx replaces the header: claiming the CA's certificate in it proves nothing.
        refused.append(http.post("/oauth2/token", data=form, headers=issued.header(HEADER)))
    for answer in refused:
        assert answer.status_code == 401, answer.text
        assert answer.json() == {
            "error": "invalid_client",
            "error_description": "Client authentication failed.",
        }

"""The ASGI TLS extension (web/tls.py): built from a finished handshake as the spec asks
(https://asgi.readthedocs.io/en/latest/specs/tls.html), once per connection, in every scope of
a TLS connection served by either protocol, and never on a plain one."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from keyloft.web.server import SERVER_OPTIONS
from keyloft.web.tls import server_certificate, tls_extension, with_tls
from tests.support.certificates import CertificateAuthority, Issued

# The TLS cipher suite registry's numbers (RFC 8446 §B.4, RFC 5289, RFC 7905) of the suites
# OpenSSL offers by default with EC certificates, by OpenSSL's names.
IANA_SUITES = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "ECDHE-ECDSA-AES128-GCM-SHA256": 0xC02B,
    "ECDHE-ECDSA-AES256-GCM-SHA384": 0xC02C,
    "ECDHE-ECDSA-CHACHA20-POLY1305": 0xCCA9,
}
PROTOCOLS = ["keyloft.web.tls:HttpsProtocol", "keyloft.web.tls:H11HttpsProtocol"]


class Pki:
    """A CA, the server's certificate and a client's, as files."""

    def __init__(self, directory: Path) -> None:
        self.ca = CertificateAuthority(directory)
        self.server = self.ca.issue("server", server=True)
        self.client = self.ca.issue("client")

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server.certfile, self.server.keyfile)
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(self.ca.certfile)
        return context

    def client_context(self, certificate: Issued | None) -> ssl.SSLContext:
        if certificate is None:
            return ssl.create_default_context(cafile=str(self.ca.certfile))
        return certificate.client_context(self.ca.certfile)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> ssl.SSLObject:
    """The server's end of a TLS connection whose handshake ran through memory buffers."""
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_end = server.wrap_bio(server_in, server_out, server_side=True)
    client_end = client.wrap_bio(client_in, client_out, server_hostname="localhost")
    done: set[str] = set()
    for _ in range(10):
        for name, end in (("client", client_end), ("server", server_end)):
            try:
                end.do_handshake()
                done.add(name)
            except ssl.SSLWantReadError:
                pass
            server_in.write(client_out.read())
            client_in.write(server_out.read())
        if done == {"client", "server"}:
            return server_end
    raise AssertionError("the handshake did not finish")


def test_a_client_certificate_is_the_chain_its_name_and_no_error(pki: Pki) -> None:
    connection = _handshake(pki.server_context(), pki.client_context(pki.client))
    extension = tls_extension(connection, "server PEM")
    assert extension["client_cert_chain"] == [ssl.DER_cert_to_PEM_cert(pki.client.der)]
    assert extension["client_cert_name"] == "CN=client"
    assert extension["client_cert_error"] is None
    assert extension["server_cert"] == "server PEM"
    assert extension["tls_version"] == 0x0304
    cipher = connection.cipher()
    assert cipher is not None
    assert extension["cipher_suite"] == IANA_SUITES[cipher[0]]


def test_without_a_client_certificate_the_chain_is_empty(pki: Pki) -> None:
    connection = _handshake(pki.server_context(), pki.client_context(None))
    extension = tls_extension(connection, None)
    assert extension["client_cert_chain"] == []
    assert extension["client_cert_name"] is None
    assert extension["client_cert_error"] is None
    assert extension["tls_version"] == 0x0304


def test_tls_1_2_version_and_suite_are_numbered_as_the_registry(pki: Pki) -> None:
    client = pki.client_context(pki.client)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    connection = _handshake(pki.server_context(), client)
    extension = tls_extension(connection, None)
    assert extension["tls_version"] == 0x0303
    cipher = connection.cipher()
    assert cipher is not None
    assert extension["cipher_suite"] == IANA_SUITES[cipher[0]]
    assert extension["client_cert_name"] == "CN=client"


def test_the_server_certificate_is_the_first_of_the_certfile(pki: Pki, tmp_path: Path) -> None:
    combined = tmp_path / "combined.pem"
    combined.write_bytes(pki.server.keyfile.read_bytes() + pki.server.pem + pki.ca.issued.pem)
    assert server_certificate(str(combined)) == ssl.DER_cert_to_PEM_cert(pki.server.der)
    assert server_certificate(str(tmp_path / "gone.pem")) is None
    assert server_certificate(None) is None


async def test_the_extension_joins_a_scope_without_changing_its_other_extensions() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope["extensions"]))

    extension = {"client_cert_chain": []}
    wrapped = with_tls(app, extension)
    await wrapped({"type": "http"}, None, None)
    others = {"http.response.trailers": {}}
    await wrapped({"type": "http", "extensions": others}, None, None)
    assert seen == [{"tls": extension}, {"http.response.trailers": {}, "tls": extension}]
    assert others == {"http.response.trailers": {}}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@asynccontextmanager
async def _server(app: Any, protocol: str, pki: Pki | None) -> AsyncIterator[str]:
    """A real uvicorn on a free port with the options ``keyloft serve`` uses, TLS with
    optional client certificates when ``pki`` is given; yields its base URL."""
    port = _free_port()
    options = {k: v for k, v in SERVER_OPTIONS.items() if k != "access_log"} | {"http": protocol}
    if pki is not None:
        options |= {
            "ssl_certfile": str(pki.server.certfile),
            "ssl_keyfile": str(pki.server.keyfile),
            "ssl_ca_certs": str(pki.ca.certfile),
            "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        }
    config = uvicorn.Config(app, port=port, log_level="warning", lifespan="off", **options)
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    async with asyncio.timeout(10):
        while not running.started:
            await asyncio.sleep(0.01)
    try:
        yield f"{'https' if pki else 'http'}://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        await task


class Recorder:
    """An ASGI app answering 204 that keeps each request's TLS extension."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any] | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.seen.append((scope.get("extensions") or {}).get("tls"))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_every_request_of_a_tls_connection_carries_its_extension(
    pki: Pki, protocol: str
) -> None:
    app = Recorder()
    async with _server(app, protocol, pki) as url:
        async with httpx.AsyncClient(verify=pki.client_context(pki.client)) as http:
            first = await http.get(url + "/one")
            second = await http.get(url + "/two")  # the same kept-alive connection
        async with httpx.AsyncClient(verify=pki.client_context(None)) as http:
            anonymous = await http.get(url + "/three")
    assert [first.status_code, second.status_code, anonymous.status_code] == [204] * 3
    mine, again, theirs = app.seen
    assert mine is not None
    assert theirs is not None
    assert again is mine  # read once for the connection, not per request
    assert mine["client_cert_chain"] == [ssl.DER_cert_to_PEM_cert(pki.client.der)]
    assert mine["client_cert_name"] == "CN=client"
    assert mine["server_cert"] == ssl.DER_cert_to_PEM_cert(pki.server.der)
    assert mine["tls_version"] in (0x0303, 0x0304)
    assert isinstance(mine["cipher_suite"], int)
    assert theirs["client_cert_chain"] == []
    assert theirs["client_cert_name"] is None


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_plain_connection_has_no_tls_extension(protocol: str) -> None:
    app = Recorder()
    async with _server(app, protocol, None) as url, httpx.AsyncClient() as http:
        answer = await http.get(url + "/")
    assert answer.status_code == 204
    assert app.seen == [None]

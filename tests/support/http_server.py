"""A real HTTP (or HTTPS) server on a free 127.0.0.1 port, for tests of outbound requests.

Each path is answered by a route, a function given the ``Exchange``; the server records
every connection it accepted, every request it read (with its headers), the TLS server names
clients asked for, and how each exchange ended (bytes written, whether the client hung up).
Deliberate delays wait on the server's stop event, so stopping the server never waits them out.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class Seen:
    """A request the server read."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes = b""  # what a POST sent (its Content-Length)


@dataclass(slots=True)
class Ended:
    """How an exchange ended."""

    path: str
    written: int
    hung_up: bool  # the client closed the connection while the server was still writing


class Exchange:
    """One request, as a route sees it."""

    def __init__(self, handler: _Handler, server: LocalServer) -> None:
        self._handler = handler
        self._server = server
        self.written = 0
        length = int(handler.headers.get("Content-Length") or 0)
        self.seen = Seen(
            handler.command,
            handler.path,
            {name.lower(): value for name, value in handler.headers.items()},
            handler.rfile.read(length) if handler.command == "POST" and length else b"",
        )

    def start(self, status: int, headers: Iterable[tuple[str, str]] = ()) -> None:
        self._handler.send_response(status)
        for name, value in headers:
            self._handler.send_header(name, value)
        self._handler.end_headers()
        self._handler.wfile.flush()

    def write(self, data: bytes) -> None:
        self._handler.wfile.write(data)
        self._handler.wfile.flush()
        self.written += len(data)

    def reply(
        self, status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.start(status, [*headers, ("Content-Length", str(len(body)))])
        self.write(body)

    def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the server is stopping."""
        self._server.stopping.wait(seconds)

    @property
    def stopping(self) -> bool:
        return self._server.stopping.is_set()


Route = Callable[[Exchange], None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        exchange = Exchange(self, owner)
        owner._record_request(exchange.seen)
        route = owner.routes.get(self.path.partition("?")[0])
        hung_up = False
        try:
            if route is None:
                exchange.reply(404, b"not here")
            else:
                route(exchange)
        except (BrokenPipeError, ConnectionResetError):
            hung_up = True
        finally:
            if not owner.keep_alive:
                self.close_connection = True
            owner._record_end(Ended(self.path, exchange.written, hung_up))

    do_POST = do_GET  # the route reads ``exchange.seen.body``

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"
    timeout = 2.0  # an idle kept-alive connection does not hold the server's stop


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handlers
    owner: LocalServer

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.owner._record_connection()
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up or failed the TLS handshake; the records say enough


class LocalServer:
    """``with LocalServer({"/x": route}) as server:`` serves until the block ends. With
    ``keep_alive`` it speaks HTTP/1.1 and keeps connections open for more requests (its routes
    must then send a Content-Length); otherwise HTTP/1.0, one request per connection."""

    def __init__(
        self,
        routes: dict[str, Route] | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        keep_alive: bool = False,
    ) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.keep_alive = keep_alive
        self.stopping = threading.Event()
        self.connections = 0
        self.requests: list[Seen] = []
        self.ended: list[Ended] = []
        self.server_names: list[str | None] = []
        self._lock = threading.Condition()
        handler = _KeepAliveHandler if keep_alive else _Handler
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.owner = self
        if tls is not None:
            tls.sni_callback = self._record_server_name
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port: int = self._server.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def wait_ended(self, count: int = 1, within: float = 5.0) -> list[Ended]:
        """Block until ``count`` exchanges have ended (call it through ``asyncio.to_thread``)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.ended) >= count, within):
                raise AssertionError(f"{len(self.ended)} of {count} exchanges ended")
            return list(self.ended)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _record_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def _record_request(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def _record_end(self, ended: Ended) -> None:
        with self._lock:
            self.ended.append(ended)
            self._lock.notify_all()

    def _record_server_name(
        self, connection: ssl.SSLObject | ssl.SSLSocket, name: str | None, context: ssl.SSLContext
    ) -> None:
        with self._lock:
            self.server_names.append(name)


def stream_forever(chunk: bytes, headers: Iterable[tuple[str, str]] = ()) -> Route:
    """A route that writes ``chunk`` again and again until the client hangs up (or the server
    stops), after a 200 with ``headers``."""

    def route(exchange: Exchange) -> None:
        exchange.start(200, headers)
        while not exchange.stopping:
            exchange.write(chunk)

    return route


def trickle(byte: bytes, every: float) -> Route:
    """A route that sends one byte every ``every`` seconds, never finishing its body."""

    def route(exchange: Exchange) -> None:
        exchange.start(200, [("Content-Type", "application/json")])
        while not exchange.stopping:
            exchange.write(byte)
            exchange.pause(every)

    return route


@dataclass(frozen=True, slots=True)
class Tls:
    """A private CA and a server certificate it issued for some host names."""

    server: ssl.SSLContext
    client: ssl.SSLContext  # trusts only the private CA


def private_tls(*names: str) -> Tls:
    """Server and client TLS contexts for a certificate naming ``names``, from a fresh CA."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = Path(directory, "cert.pem"), Path(directory, "key.pem")
        cert_file.write_bytes(
            leaf.public_bytes(serialization.Encoding.PEM)
            + ca.public_bytes(serialization.Encoding.PEM)
        )
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode("ascii")
    )
    return Tls(server, client)


def free_port() -> int:
    """A port nothing listens on (bound and released again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port

"""The ASGI TLS extension for ``keyloft serve --ssl-certfile``: every request's scope carries
``extensions["tls"]`` (https://asgi.readthedocs.io/en/latest/specs/tls.html) — the server's
certificate, the client's certificate chain (leaf first, empty without one), the client's
subject, the TLS version and the cipher suite — so that a client certificate presented on the
connection itself reaches Keyloft (``web/caller.py: client_certificate``).

uvicorn does not provide the extension. The protocols here are those ``keyloft serve`` runs
otherwise (``web/server.py``), or uvicorn's h11 one, with a single change: once the handshake
is done (``connection_made``) the extension is read from the connection's ``ssl_object``, and
the connection's app is wrapped to put it into each request's scope. Parsing, keep-alive and
flow control stay uvicorn's; nothing is read again per request.

Python's ``ssl`` ends the handshake when a presented certificate does not chain to the
trusted CAs, so ``client_cert_error`` is always None here.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from cryptography import x509
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

from keyloft.web.server import HttpProtocol

Scope = MutableMapping[str, Any]
App = Callable[[Scope, Any, Any], Awaitable[None]]

# The options ``keyloft serve`` adds to SERVER_OPTIONS when it serves TLS itself.
TLS_SERVER_OPTIONS: dict[str, Any] = {"http": "keyloft.web.tls:HttpsProtocol"}

TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)
# OpenSSL cipher name -> the suite's IANA number, filled from the contexts in use.
_SUITES: dict[str, int] = {}


def tls_extension(ssl_object: ssl.SSLObject, server_cert: str | None) -> dict[str, Any]:
    """The extension's entries for one TLS connection, after its handshake."""
    chain = client_chain(ssl_object)
    version = ssl_object.version()
    return {
        "server_cert": server_cert,
        "client_cert_chain": chain,
        "client_cert_name": _subject(chain[0]) if chain else None,
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(version) if version else None,
        "cipher_suite": _cipher_suite(ssl_object),
    }


def client_chain(ssl_object: ssl.SSLObject) -> list[str]:
    """The client's certificates as PEM, its own first: the verified chain where Python can
    tell it (3.13+), else the client's certificate alone; empty when it presented none."""
    leaf = ssl_object.getpeercert(binary_form=True)
    if not leaf:
        return []
    verified = getattr(ssl_object, "get_verified_chain", None)
    chain: list[bytes] = [bytes(der) for der in (verified() or [])] if verified else []
    if not chain or chain[0] != leaf:
        chain = [leaf]
    return [ssl.DER_cert_to_PEM_cert(der) for der in chain]


def _subject(pem: str) -> str | None:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii")).subject.rfc4514_string()
    except ValueError:
        return None


def _cipher_suite(ssl_object: ssl.SSLObject) -> int | None:
    cipher = ssl_object.cipher()
    if cipher is None:
        return None
    name = cipher[0]
    if name not in _SUITES:
        # OpenSSL's cipher ids are 0x0300XXXX, XXXX the suite's number in the TLS registry.
        for known in ssl_object.context.get_ciphers():
            _SUITES[known["name"]] = known["id"] & 0xFFFF
    return _SUITES.get(name)


@functools.cache
def server_certificate(certfile: str | None) -> str | None:
    """The first certificate of ``--ssl-certfile`` (the server's own), as PEM; read once."""
    if certfile is None:
        return None
    try:
        found = _PEM_CERTIFICATE.search(Path(certfile).read_bytes())
        if found is None:
            return None
        return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(found.group().decode("ascii")))
    except (OSError, ValueError):
        return None


def with_tls(app: App, tls: dict[str, Any]) -> App:
    """``app``, with ``tls`` as the TLS extension of every scope it is called with."""

    async def app_with_tls(scope: Scope, receive: Any, send: Any) -> None:
        extensions = scope.get("extensions")
        scope["extensions"] = {**extensions, "tls": tls} if extensions else {"tls": tls}
        await app(scope, receive, send)

    return app_with_tls


def _connection_app(app: App, transport: asyncio.BaseTransport, config: Config) -> App:
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return app  # not a TLS connection: the extension must be absent
    certfile = config.ssl_certfile
    server_cert = server_certificate(str(certfile) if certfile is not None else None)
    return with_tls(app, tls_extension(ssl_object, server_cert))


class HttpsProtocol(HttpProtocol):
    """Keyloft's protocol (``web/server.py``) adding the TLS extension to each scope."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.app = _connection_app(self.app, transport, self.config)


class H11HttpsProtocol(H11Protocol):
    """uvicorn's h11 protocol adding the TLS extension to each scope."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.app = _connection_app(self.app, transport, self.config)

"""Fetching a JSON document from a server a user named, without letting that user aim it.

``JsonFetcher`` implements the ``RemoteJson`` port. The URL's host is resolved once and every
address it resolves to must pass the address policy (``keyloft.outbound.addresses``) before
anything is sent; the request then goes to that checked address itself, with the original
``Host`` header and, for https, the original hostname as TLS SNI and for certificate
verification, so a second DNS answer (DNS rebinding) cannot move it elsewhere. Redirects are
refused rather than followed, since a redirect could point anywhere; the body is capped in
size (after decompression) and the whole exchange in time.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import ipaddress
import json
import logging
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import NoReturn, Self, TypeVar

import httpx

from keyloft.outbound import addresses as address_policy
from keyloft.outbound.addresses import IPAddress
from keyloft.services.ports import RemoteDocument, RemoteFetchFailed

T = TypeVar("T")

log = logging.getLogger("keyloft.outbound")

Resolver = Callable[[str, int], Awaitable[list[str]]]
AddressRule = Callable[[IPAddress], bool]


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How far an outbound fetch may go. ``allow_http`` (development and tests only) also
    allows ``http://`` URLs and loopback and private addresses."""

    allow_http: bool = False
    connect_timeout: float = 2.0
    read_timeout: float = 3.0
    total_timeout: float = 5.0
    max_bytes: int = 256 * 1024
    user_agent: str = "keyloft"


@dataclass(frozen=True, slots=True)
class _Target:
    given: str
    url: httpx.URL
    host: str  # ASCII (IDNA) form, without brackets
    port: int
    literal: IPAddress | None  # the host when the URL names an address


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, as the system resolver orders them."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [
        str(sockaddr[0])
        for family, _, _, _, sockaddr in infos
        if family in (socket.AF_INET, socket.AF_INET6)
    ]


def parse_max_age(cache_control: Iterable[str]) -> float | None:
    """Seconds a response may be cached, from its ``Cache-Control`` header values: 0 for
    ``no-store``/``no-cache``, else ``s-maxage`` or ``max-age``; None when neither is valid."""
    values: dict[str, str] = {}
    for header in cache_control:
        for directive in header.split(","):
            name, _, value = directive.partition("=")
            values.setdefault(name.strip().lower(), value.strip().strip('"'))
    if "no-store" in values or "no-cache" in values:
        return 0.0
    for name in ("s-maxage", "max-age"):
        value = values.get(name, "")
        if value.isascii() and value.isdigit():
            return float(value)
    return None


def _refuse(reason: str, detail: str = "") -> NoReturn:
    raise RemoteFetchFailed(reason, detail)


def _where(url: str) -> str:
    """The URL's scheme and host only, for logs: never its path or query string."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "(not a URL)"
    return f"{parsed.scheme}://{parsed.host}"


class _Body:
    """Collects a response body, decoding gzip as it goes, and refuses it as soon as either
    what arrived or what it decodes to passes ``limit`` bytes."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if codings not in ([], ["gzip"], ["x-gzip"]):
            _refuse("not_json", f"content-encoding {content_encoding!r}")
        self._gzip = zlib.decompressobj(16 + zlib.MAX_WBITS) if codings else None
        self._limit = limit
        self._received = 0
        self._decoded = bytearray()

    def feed(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self._limit:
            _refuse("too_large", f"more than {self._limit} bytes")
        if self._gzip is None:
            self._take(chunk)
            return
        # Decode at most one byte past the limit, so a small bomb never expands in memory.
        room = self._limit - len(self._decoded) + 1
        try:
            self._take(self._gzip.decompress(chunk, room))
        except zlib.error as exc:
            _refuse("not_json", f"bad gzip data: {exc}")

    def finish(self) -> bytes:
        if self._gzip is not None:
            try:
                self._take(self._gzip.flush())
            except zlib.error as exc:
                _refuse("not_json", f"bad gzip data: {exc}")
        return bytes(self._decoded)

    def _take(self, data: bytes) -> None:
        if len(self._decoded) + len(data) > self._limit:
            _refuse("too_large", f"more than {self._limit} bytes")
        self._decoded += data


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _parse_object(body: bytes) -> dict[str, object]:
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        _refuse("not_json", str(exc)[:200])
    if not isinstance(document, dict):
        _refuse("not_json", f"a JSON {type(document).__name__}, not an object")
    return document


class JsonFetcher:
    """Fetches JSON objects over one HTTP client; safe for concurrent use. ``resolve`` and
    ``address_allowed`` replace the system resolver and the address policy (for tests);
    ``ssl_context`` replaces the default certificate verification (a private CA)."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        resolve: Resolver | None = None,
        address_allowed: AddressRule | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy = policy or FetchPolicy()
        self._resolve = resolve or resolve_host
        self._allowed = address_allowed or partial(
            address_policy.address_allowed, allow_private=policy.allow_http
        )
        self._client = httpx.AsyncClient(
            verify=ssl_context if ssl_context is not None else True,
            trust_env=False,
            follow_redirects=False,
            cookies=http.cookiejar.CookieJar(
                policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
            ),
            timeout=httpx.Timeout(
                connect=policy.connect_timeout,
                read=policy.read_timeout,
                write=policy.read_timeout,
                pool=policy.connect_timeout,
            ),
            # Connections are pooled by address, and hosts sharing one address would share a
            # TLS session verified for whichever of them opened it: never reuse one.
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={
                "User-Agent": policy.user_agent,
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
                "Connection": "close",
            },
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_json(self, url: str) -> RemoteDocument:
        try:
            target = self._target(url)
            try:
                async with asyncio.timeout(self.policy.total_timeout):
                    addresses = await self._addresses(target)
                    return await self._fetch(target, addresses)
            except TimeoutError:
                _refuse("timeout", f"no document within {self.policy.total_timeout} s")
        except RemoteFetchFailed as failed:
            log.info("outbound fetch of %s refused: %s", _where(url), failed)
            raise

    def _target(self, url: str) -> _Target:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            _refuse("scheme", "not a URL")
        schemes = ("https", "http") if self.policy.allow_http else ("https",)
        if parsed.scheme not in schemes:
            _refuse("scheme", f"{parsed.scheme or 'no'} scheme; allowed: {', '.join(schemes)}")
        if parsed.userinfo:
            _refuse("scheme", "credentials in the URL")
        if not parsed.raw_host:
            _refuse("scheme", "no host")
        host = parsed.raw_host.decode("ascii")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        return _Target(url, parsed.copy_with(fragment=None), host, port, literal)

    async def _addresses(self, target: _Target) -> list[IPAddress]:
        if target.literal is not None:
            addresses = [target.literal]
        else:
            try:
                found = await self._resolve(target.host, target.port)
                addresses = list(dict.fromkeys(ipaddress.ip_address(a) for a in found))
            except (OSError, UnicodeError, ValueError) as exc:
                _refuse("resolve", f"{target.host}: {exc}")
            if not addresses:
                _refuse("resolve", f"{target.host}: no addresses")
        for address in addresses:
            if not self._allowed(address):
                _refuse("address", f"{target.host} resolves to {address}, which is not allowed")
        return addresses

    async def _fetch(self, target: _Target, addresses: list[IPAddress]) -> RemoteDocument:
        return await self._first_answer(
            addresses, lambda address: self._fetch_from(target, address)
        )

    @staticmethod
    async def _first_answer(
        addresses: list[IPAddress], attempt: Callable[[IPAddress], Awaitable[T]]
    ) -> T:
        """``attempt`` on each checked address in turn, until one connects."""
        failure = RemoteFetchFailed("connect", "no address to connect to")
        for address in addresses:
            try:
                return await attempt(address)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Another address of the same host may answer (an IPv6 one without a route).
                reason = "timeout" if isinstance(exc, httpx.ConnectTimeout) else "connect"
                failure = RemoteFetchFailed(reason, f"{address}: {exc}")
        raise failure

    async def _send(
        self,
        target: _Target,
        address: IPAddress,
        method: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The request sent to the checked ``address`` itself (the host named only in
        ``Host`` and SNI), its body not read; a failure to connect is raised as httpx's, for
        ``_first_answer`` to try the next address."""
        url = target.url
        extensions: dict[str, object] = {}
        if target.literal is None:
            url = url.copy_with(host=str(address))
            if url.scheme == "https":
                extensions["sni_hostname"] = target.host
        request = self._client.build_request(
            method,
            url,
            content=content,
            headers={**(headers or {}), "Host": target.url.netloc.decode("ascii")},
            extensions=extensions,
        )
        try:
            return await self._client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise
        except httpx.TimeoutException as exc:
            _refuse("timeout", str(exc))
        except httpx.TransportError as exc:
            _refuse("connect", str(exc))

    async def _fetch_from(self, target: _Target, address: IPAddress) -> RemoteDocument:
        response = await self._send(target, address, "GET")
        try:
            body = await self._read(response)
        except httpx.TimeoutException as exc:
            _refuse("timeout", str(exc))
        except httpx.TransportError as exc:
            _refuse("connect", str(exc))
        finally:
            await response.aclose()
        return RemoteDocument(
            url=target.given,
            body=_parse_object(body),
            max_age=parse_max_age(response.headers.get_list("cache-control")),
        )

    async def _read(self, response: httpx.Response) -> bytes:
        status = response.status_code
        if 300 <= status < 400:
            _refuse("redirect", f"HTTP {status}; redirects are not followed")
        if not 200 <= status < 300:
            _refuse("status", f"HTTP {status}")
        limit = self.policy.max_bytes
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            _refuse("too_large", f"Content-Length {declared} is over {limit} bytes")
        body = _Body(response.headers.get("content-encoding", ""), limit)
        async for chunk in response.aiter_raw():
            body.feed(chunk)
        return body.finish()

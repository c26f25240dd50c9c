"""ASGI middleware that lets through only calls a verified token's scopes allow.

This module owns the resource server's side of a request: reading the token
(``X-CAP-API-OAUTH-TOKEN``, ``Authorization: Bearer``, or ``Authorization: DPoP`` with its
``DPoP`` proof header), verifying it offline with a TokenVerifier, checking that it may be used
as presented (``keyloft.resource.dpop``: a DPoP-bound token only with a proof of its key for
this request's method and public URL, a bearer token never as DPoP, a certificate-bound token
only with the client certificate a trusted TLS terminator passed on), deciding
``METHOD raw-path`` with the same pure decision Keyloft uses (``keyloft.domain.scopes.decide``),
and answering refusals in the v3 error envelope — 401 (code 3001 without a token, 3003 for an
invalid one or one presented the wrong way), 403 (code 4000) when the scopes do not allow the
call, 503 (code 5030) while the issuer's keys or the DPoP replay store cannot be consulted. The
challenge is ``DPoP`` (RFC 9449 §7.1) when the request used that scheme or the token is bound to
a DPoP key, ``Bearer`` otherwise. An allowed request goes on with ``scope["state"]["keyloft"]``
set to the VerifiedToken (``request.state.keyloft`` in Starlette and FastAPI).

The decision is made on the token's own grants. Offline it cannot see revocations, deleted
clients or narrowed scopes — ask the decision point or introspection where that matters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from keyloft.domain.addresses import Network, is_trusted, parse_networks
from keyloft.domain.certificates import read_certificate
from keyloft.domain.errors import AccessDenied, InvalidToken, Unauthenticated, ValidationFailed
from keyloft.domain.scopes import DEFAULT_ENTITIES, ScopeEntity, decide
from keyloft.resource.dpop import BEARER, DPOP, PROOF_ALGORITHMS, V3_HEADER, ProofInvalid
from keyloft.resource.verified import TokenInvalid
from keyloft.resource.verifier import TokenVerifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("keyloft.resource")
STATE_KEY = "keyloft"
TOKEN_HEADER = b"x-cap-api-oauth-token"
DPOP_HEADER = b"dpop"
REALM = 'Bearer realm="keyloft"'
DPOP_REALM = 'DPoP realm="keyloft"'
DPOP_ALGS = " ".join(PROOF_ALGORITHMS)
RETRY_AFTER_SECONDS = 5
WEBSOCKET_POLICY_VIOLATION = 1008


def _envelope(code: int, message: str) -> bytes:
    entry = {"code": code, "message": message}
    return json.dumps({"data": None, "errors": [entry]}, separators=(",", ":")).encode()


class _Answer:
    """A refusal, rendered once."""

    def __init__(self, status: int, code: int, message: str, extra: dict[str, str]) -> None:
        body = _envelope(code, message)
        self.status = status
        self.body = body
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            *((name.encode(), value.encode()) for name, value in extra.items()),
        ]

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def _bearer(error: str | None = None) -> dict[str, str]:
    return {"www-authenticate": f'{REALM}, error="{error}"' if error else REALM}


def _dpop(error: str) -> dict[str, str]:
    return {"www-authenticate": f'{DPOP_REALM}, error="{error}", algs="{DPOP_ALGS}"'}


NO_TOKEN = _Answer(401, Unauthenticated.code, Unauthenticated.default_message, _bearer())
INVALID_TOKEN = _Answer(
    401, InvalidToken.code, InvalidToken.default_message, _bearer("invalid_token")
)
DENIED = _Answer(
    403, AccessDenied.code, AccessDenied.default_message, _bearer("insufficient_scope")
)
TWO_TOKENS = _Answer(
    400,
    ValidationFailed.code,
    "Send the access token in one header only.",
    _bearer("invalid_request"),
)
NO_KEYS = _Answer(
    503,
    5030,
    "The token issuer's keys cannot be fetched; retry later.",
    {"retry-after": str(RETRY_AFTER_SECONDS)},
)
DPOP_INVALID_TOKEN = _Answer(
    401, InvalidToken.code, InvalidToken.default_message, _dpop("invalid_token")
)
DPOP_INVALID_PROOF = _Answer(
    401, InvalidToken.code, InvalidToken.default_message, _dpop("invalid_dpop_proof")
)
DPOP_DENIED = _Answer(
    403, AccessDenied.code, AccessDenied.default_message, _dpop("insufficient_scope")
)
DPOP_TWO_TOKENS = _Answer(
    400,
    ValidationFailed.code,
    "Send the access token in one header only.",
    _dpop("invalid_request"),
)
NO_REPLAYS = _Answer(
    503,
    5030,
    "DPoP proofs cannot be checked right now; retry later.",
    {"retry-after": str(RETRY_AFTER_SECONDS)},
)


@dataclass(frozen=True, slots=True)
class Credentials:
    """The token of a request, the scheme it came with, and the request's DPoP proofs."""

    scheme: str
    """``Bearer``, ``DPoP`` or ``X-CAP-API-OAUTH-TOKEN``."""
    token: str
    proofs: tuple[str, ...]

    @property
    def dpop(self) -> bool:
        return self.scheme == DPOP


_AUTHORIZATION_SCHEMES = {"bearer": BEARER, "dpop": DPOP}


def read_credentials(headers: Iterable[tuple[bytes, bytes]]) -> Credentials | _Answer | None:
    """The token of a request with its scheme and proofs, None when there is no token, or
    the answer to a request that sends different tokens or one token under both schemes."""
    found: list[tuple[str, str]] = []
    proofs: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == TOKEN_HEADER:
            found.append((V3_HEADER, value.decode("latin-1").strip()))
        elif lowered == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            kind = _AUTHORIZATION_SCHEMES.get(scheme.lower())
            if kind is not None:
                found.append((kind, rest.strip()))
        elif lowered == DPOP_HEADER:
            proofs.append(value.decode("latin-1").strip())
    if not found:
        return None
    scheme, token = found[0]
    uses_dpop = {kind == DPOP for kind, _ in found}
    if len(uses_dpop) > 1:
        return DPOP_TWO_TOKENS
    if any(other != token for _, other in found[1:]):
        return DPOP_TWO_TOKENS if scheme == DPOP else TWO_TOKENS
    return Credentials(scheme, token, tuple(proofs))


_HTTP_SCHEMES = {"ws": "http", "wss": "https"}


def request_url(scope: Scope, path: str) -> str:
    """The URL of a request as it names itself: the scope's scheme (``ws``/``wss`` as
    ``http``/``https``), the ``Host`` header (else the server's address) and ``path``.

    The Host header is whatever the client sent; behind a proxy it may not even be the public
    name. Give the middleware ``public_url`` in production."""
    scheme = str(scope.get("scheme") or "http")
    scheme = _HTTP_SCHEMES.get(scheme, scheme)
    headers = scope.get("headers", ())
    host = next((value for name, value in headers if name.lower() == b"host"), None)
    if host is not None:
        authority = host.decode("latin-1")
    else:
        server = scope.get("server")
        if server:
            name, port = server
            name = f"[{name}]" if ":" in name else name
            authority = name if port is None else f"{name}:{port}"
        else:
            authority = ""
    return f"{scheme}://{authority}{path}"


def _public_url(url: str) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        port == -1
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or url.endswith(("?", "#"))
    ):
        raise ValueError(
            "public_url must be an http(s) origin, optionally with the path prefix a proxy "
            "strips, without credentials, query or fragment"
        )
    return url.rstrip("/")


class KeyloftMiddleware:
    """Wrap an ASGI app so that every HTTP and WebSocket call needs a token allowing it.

    ``exempt_paths`` are raw request paths (exact, without the query string) that pass
    without a token — health probes, for example. A WebSocket handshake is decided as GET.

    ``public_url`` is the public origin of the app (``https://api.example.com``, with the path
    prefix a proxy strips if it strips one): a DPoP proof's ``htu`` must be it followed by the
    raw request path. Without it the URL is taken from the request itself, Host header
    included (``request_url``) — which a client chooses; set it in production.

    ``client_cert_header`` names the header in which the TLS terminator passes on the client
    certificate of a mutual-TLS connection (a PEM, URL-encoded or not, as nginx's
    ``$ssl_client_escaped_cert``); it is believed only from a peer among ``trusted_proxies``
    (addresses or CIDRs) and ignored from any other. A certificate-bound token (``cnf.x5t#S256``)
    passes only with that very certificate, so without these arguments every one is refused.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        entities: Sequence[ScopeEntity] = DEFAULT_ENTITIES,
        exempt_paths: Iterable[str] = (),
        public_url: str | None = None,
        client_cert_header: str | None = None,
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.entities = tuple(sorted(entities, key=lambda entity: entity.id))
        self.exempt_paths = frozenset(exempt_paths)
        self.public_url = _public_url(public_url) if public_url is not None else None
        self.trusted_proxies: tuple[Network, ...] = parse_networks(trusted_proxies)
        self.client_cert_header: bytes | None = None
        if client_cert_header is not None:
            if not client_cert_header.strip() or not self.trusted_proxies:
                raise ValueError(
                    "client_cert_header needs a header name and the trusted_proxies that set it"
                )
            self.client_cert_header = client_cert_header.strip().lower().encode("latin-1")
        elif self.trusted_proxies:
            raise ValueError("trusted_proxies is only used with client_cert_header")

    def certificate(self, scope: Scope) -> str | None:
        """The ``x5t#S256`` of the client's certificate for this request: the one a trusted TLS
        terminator passed on in ``client_cert_header`` (a proxy speaks for its client), else
        the one the client presented on this very connection when the server terminates TLS
        itself and says so in the scope (the ASGI TLS extension's ``client_cert_chain``, as
        ``keyloft serve --ssl-ca-certs`` does). None without one, from a header of an untrusted
        peer or sent twice, or unreadable."""
        if self.client_cert_header is not None:
            client = scope.get("client")
            values = [
                value
                for name, value in scope.get("headers", ())
                if name.lower() == self.client_cert_header
            ]
            if values and client and is_trusted(client[0], self.trusted_proxies):
                if len(values) != 1 or not values[0].strip():
                    return None
                return _x5t(values[0].decode("latin-1"))
        tls = (scope.get("extensions") or {}).get("tls")
        chain = tls.get("client_cert_chain") if isinstance(tls, dict) else None
        if isinstance(chain, list | tuple) and chain and isinstance(chain[0], str):
            return _x5t(chain[0])
        return None

    def url(self, scope: Scope, path: str) -> str:
        """The public URL of a request to raw ``path`` (no query), as ``htu`` must name it."""
        if self.public_url is not None:
            return self.public_url + path
        return request_url(scope, path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else scope["path"]
        path = path.split("?", 1)[0]
        if path in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET") if kind == "http" else "GET"
        refusal = await self._refusal(scope, method, path)
        if refusal is None:
            await self.app(scope, receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": WEBSOCKET_POLICY_VIOLATION})
        else:
            await refusal.send(send)

    async def _refusal(self, scope: Scope, method: str, path: str) -> _Answer | None:
        """None when the call may go on (the verified token is then in the scope's state)."""
        credentials = read_credentials(scope.get("headers", ()))
        if isinstance(credentials, _Answer):
            return credentials
        if credentials is None:
            return NO_TOKEN
        try:
            verified = await self.verifier.verify(credentials.token)
        except TokenInvalid as exc:
            log.debug("token refused: %s", exc.reason)
            if exc.reason == "jwks_unavailable":
                return NO_KEYS
            return DPOP_INVALID_TOKEN if credentials.dpop else INVALID_TOKEN
        dpop = credentials.dpop or verified.jkt is not None
        try:
            await self.verifier.check_presentation(
                verified,
                credentials.token,
                scheme=credentials.scheme,
                proofs=credentials.proofs,
                method=method,
                url=self.url(scope, path),
                certificate=self.certificate(scope) if verified.x5t_s256 else None,
            )
        except TokenInvalid as exc:
            log.debug("token refused for %s: %s", verified.client_key, exc.reason)
            if exc.reason == "replay_unavailable":
                return NO_REPLAYS
            if isinstance(exc, ProofInvalid):
                return DPOP_INVALID_PROOF
            return DPOP_INVALID_TOKEN if dpop else INVALID_TOKEN
        decision = decide(self.entities, verified.grants, method, path)
        if not decision.allowed:
            log.debug("call refused for %s: %s", verified.client_key, decision.reason)
            return DPOP_DENIED if dpop else DENIED
        scope.setdefault("state", {})[STATE_KEY] = verified
        return None


def _x5t(pem: str) -> str | None:
    try:
        return read_certificate(pem).x5t_s256
    except ValueError:
        log.debug("client certificate unreadable")
        return None

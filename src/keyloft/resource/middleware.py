"""ASGI middleware that lets through only calls a verified token's scopes allow.

This module owns the resource server's side of a request: reading the token
(``X-CAP-API-OAUTH-TOKEN`` or ``Authorization: Bearer``), verifying it offline with a
TokenVerifier, deciding ``METHOD raw-path`` with the same pure decision Keyloft uses
(``keyloft.domain.scopes.decide``), and answering refusals in the v3 error envelope — 401
(code 3001 without a token, 3003 for an invalid one), 403 (code 4000) when the scopes do not
allow the call, 503 (code 5030) while the issuer's keys cannot be fetched. An allowed request
goes on with ``scope["state"]["keyloft"]`` set to the VerifiedToken (``request.state.keyloft``
in Starlette and FastAPI).

The decision is made on the token's own grants. Offline it cannot see revocations, deleted
clients or narrowed scopes — ask the decision point or introspection where that matters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

from keyloft.domain.errors import AccessDenied, InvalidToken, Unauthenticated, ValidationFailed
from keyloft.domain.scopes import DEFAULT_ENTITIES, ScopeEntity, decide
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
REALM = 'Bearer realm="keyloft"'
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


def read_token(headers: Iterable[tuple[bytes, bytes]]) -> str | _Answer | None:
    """The token of a request, None when there is none, or the answer to a request that
    sends more than one."""
    found: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == TOKEN_HEADER:
            found.append(value.decode("latin-1").strip())
        elif lowered == b"authorization":
            scheme, _, rest = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                found.append(rest.strip())
    if not found:
        return None
    if len(found) > 1 and any(token != found[0] for token in found[1:]):
        return TWO_TOKENS
    return found[0]


class KeyloftMiddleware:
    """Wrap an ASGI app so that every HTTP and WebSocket call needs a token allowing it.

    ``exempt_paths`` are raw request paths (exact, without the query string) that pass
    without a token — health probes, for example. A WebSocket handshake is decided as GET.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        entities: Sequence[ScopeEntity] = DEFAULT_ENTITIES,
        exempt_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.entities = tuple(sorted(entities, key=lambda entity: entity.id))
        self.exempt_paths = frozenset(exempt_paths)

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
        token = read_token(scope.get("headers", ()))
        if isinstance(token, _Answer):
            return token
        if token is None:
            return NO_TOKEN
        try:
            verified = await self.verifier.verify(token)
        except TokenInvalid as exc:
            log.debug("token refused: %s", exc.reason)
            return NO_KEYS if exc.reason == "jwks_unavailable" else INVALID_TOKEN
        decision = decide(self.entities, verified.grants, method, path)
        if not decision.allowed:
            log.debug("call refused for %s: %s", verified.client_key, decision.reason)
            return DENIED
        scope.setdefault("state", {})[STATE_KEY] = verified
        return None

"""How the registration endpoints (RFC 7591/7592) answer a refusal: RFC 7591 §3.2.2's error
object, never cached, with RFC 6750 §3 challenges where a token was the trouble.

| refusal | status | ``error`` |
| --- | :---: | --- |
| a metadata value | 400 | ``invalid_client_metadata`` (``invalid_redirect_uri``) |
| an unreadable body or header | 400 | ``invalid_request`` |
| the org's client limit | 400 | ``access_denied`` |
| missing or wrong credentials, or registration token | 401 | ``invalid_token`` |
| a token without write, or asking beyond its grants | 403 | ``insufficient_scope`` |

Anything else (too many attempts, a store outage) goes on to the app's own handlers, which
answer the OAuth endpoints' errors alike. ``RegistrationRoute`` notes which error answered,
as those handlers do, so the metrics count it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keyloft.domain import errors as e
from keyloft.domain.oauth import OAuthError
from keyloft.web.caller import NO_STORE
from keyloft.web.errors import CHALLENGE, TOKEN_CHALLENGE, dpop_challenge
from keyloft.web.metrics import ERROR_KEY, REASON_KEY

SCOPE_CHALLENGE = 'Bearer realm="keyloft", error="insufficient_scope"'


def answer(exc: e.KeyloftError) -> Response | None:
    """The registration endpoints' answer to ``exc``; None for the app's handlers to give."""
    if isinstance(exc, OAuthError):
        return _error(exc.status, exc.error, exc.message)
    if isinstance(exc, e.InvalidToken):
        challenge = dpop_challenge(exc.dpop_error) if exc.dpop else TOKEN_CHALLENGE
        return _error(401, "invalid_token", exc.message, {"WWW-Authenticate": challenge})
    if isinstance(exc, e.Unauthenticated | e.InvalidClientCredentials):
        return _error(401, "invalid_token", exc.message, {"WWW-Authenticate": CHALLENGE})
    if isinstance(exc, e.AccessDenied):
        headers = {"WWW-Authenticate": SCOPE_CHALLENGE}
        return _error(403, "insufficient_scope", exc.message, headers)
    if isinstance(exc, e.ClientLimitReached):
        return _error(400, "access_denied", exc.message)
    if isinstance(exc, e.ValidationFailed):
        return _error(400, "invalid_request", exc.message)
    return None


def _error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers=NO_STORE | (headers or {}),
    )


class RegistrationRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answered(request: Request) -> Response:
            try:
                return await handler(request)
            except e.KeyloftError as exc:
                response = answer(exc)
                if response is None:
                    raise
                request.scope[ERROR_KEY] = type(exc)
                if isinstance(exc.reason, str):
                    request.scope[REASON_KEY] = exc.reason
                return response

        return answered

"""Every failure becomes an envelope with the right status; never a traceback to the caller."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from keyloft.domain import errors as e
from keyloft.domain.dpop import PROOF_ALGORITHMS
from keyloft.domain.oauth import OAuthError, UseDpopNonce
from keyloft.web.envelope import error

log = logging.getLogger("keyloft.errors")

CHALLENGE = 'Basic realm="keyloft", charset="UTF-8", Bearer realm="keyloft"'
TOKEN_CHALLENGE = 'Bearer realm="keyloft", error="invalid_token"'  # noqa: S105


def dpop_challenge(error: str) -> str:
    """RFC 9449 §7.1: the DPoP scheme's challenge, with the algorithms a proof may use."""
    return f'DPoP realm="keyloft", error="{error}", algs="{" ".join(PROOF_ALGORITHMS)}"'


STATUS: dict[type[e.KeyloftError], int] = {
    e.ValidationFailed: 400,
    e.Unauthenticated: 401,
    e.InvalidClientCredentials: 401,
    e.InvalidToken: 401,
    e.AccessDenied: 403,
    e.NotFound: 404,
    e.ClientNotFound: 404,
    e.Conflict: 409,
    e.NameTaken: 409,
    e.ClientLimitReached: 409,
    e.ClientDeleted: 409,
    e.StateForbids: 409,
    e.VersionMismatch: 412,
    e.TooManyAttempts: 429,
}

# Codes for failures that Starlette raises before our code runs.
HTTP_CODES: dict[int, tuple[int, str]] = {
    400: (1000, "The request could not be read."),
    401: (3001, "Authentication required: valid credentials are missing."),
    404: (4040, "No such resource."),
    405: (4050, "Method not allowed on this resource."),
    411: (4110, "Length required."),
    429: (4290, "Too many requests; retry later."),
    413: (4130, "The request body is larger than the limit (1 MiB by default)."),
    415: (4150, "Unsupported media type: send application/json."),
}


OAUTH_PREFIX = "/oauth2/"
OAUTH_ERRORS = {
    401: "invalid_client",
    429: "slow_down",
    500: "server_error",
    503: "temporarily_unavailable",
}


def _answer(
    request: Request,
    status: int,
    code: int,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    oauth_error: str | None = None,
) -> Response:
    """The v3 envelope — or, on the OAuth endpoints, RFC 6749 §5.2's error object."""
    if not request.url.path.startswith(OAUTH_PREFIX):
        return error(status, code, message, field=field, headers=headers, extra=extra)
    headers = {**(headers or {}), "Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="keyloft", charset="UTF-8"'
    body = {
        "error": oauth_error or OAUTH_ERRORS.get(status, "invalid_request"),
        "error_description": message,
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _status(exc: e.KeyloftError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def keyloft_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.KeyloftError)
    if isinstance(exc, OAuthError):
        # RFC 9449 §8: the nonce the proof must carry, in the answer that asks for it.
        nonce = {"DPoP-Nonce": exc.nonce} if isinstance(exc, UseDpopNonce) else None
        return _answer(
            request, exc.status, exc.code, exc.message, oauth_error=exc.error, headers=nonce
        )
    status = _status(exc)
    headers = None
    extra = None
    if isinstance(exc, e.InvalidToken):
        headers = {
            "WWW-Authenticate": dpop_challenge(exc.dpop_error) if exc.dpop else TOKEN_CHALLENGE
        }
        if exc.nonce is not None:
            headers["DPoP-Nonce"] = exc.nonce
    elif status == 401:
        headers = {"WWW-Authenticate": CHALLENGE}
    elif isinstance(exc, e.TooManyAttempts):
        headers = {"Retry-After": str(exc.retry_after)}
        extra = {"retryAfter": exc.retry_after}
    return _answer(
        request, status, exc.code, exc.message, field=exc.field, headers=headers, extra=extra
    )


# The console's outage page says the same as the API's 503.
STORE_RETRY_SECONDS = e.StoreUnavailable.default_retry_after


def _cause(exc: Exception) -> str:
    """The name of what the store reported, for the log line."""
    return type(exc.__cause__ or exc).__name__


def store_unavailable(request: Request, exc: Exception) -> Response:
    """The database could not be reached (or stayed locked): retryable, nothing applied."""
    assert isinstance(exc, e.StoreUnavailable)
    log.warning("store unavailable: %s", _cause(exc))
    return _answer(
        request,
        503,
        exc.code,
        exc.message,
        headers={"Retry-After": str(exc.retry_after)},
        extra={"retryAfter": exc.retry_after},
    )


def _field(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "header", "path")]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid", "type": ""}
    kind = first.get("type", "")
    field = _field(tuple(first.get("loc", ())))
    if kind == "json_invalid":
        return _answer(request, 400, 1002, "The body is not valid JSON.")
    if kind == "missing":
        message = f"{field} is required." if field else "A request body is required."
    elif not field:
        message = "The body must be a JSON object."
    else:
        message = f"{field}: {first.get('msg', 'invalid value')}."
    return _answer(request, 400, e.ValidationFailed.code, message, field=field or None)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str | None:
    """Every method some route answers on this path; Starlette names only the first route's."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed) or None


def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, message = HTTP_CODES.get(exc.status_code, (exc.status_code * 10, "Request failed."))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = allowed
    return _answer(request, exc.status_code, code, message, headers=headers or None)


def store_conflict(request: Request, exc: Exception) -> Response:
    # The org lock makes this rare: only a concurrent change can reach the constraint.
    assert isinstance(exc, e.StoreConflict)
    log.info("integrity conflict: %s", _cause(exc))
    return _answer(request, 409, exc.code, exc.message)


def unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return _answer(request, 500, 5000, "Internal error; the request was not applied.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(e.KeyloftError, keyloft_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(e.StoreConflict, store_conflict)
    app.add_exception_handler(e.StoreUnavailable, store_unavailable)
    app.add_exception_handler(Exception, unexpected_error)

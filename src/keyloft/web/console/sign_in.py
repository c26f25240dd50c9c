"""Signing in to the console and out of it: the sign-in form, checking the password through
the caller authentication the API uses, opening the session cookie, and ending a session on
every node."""

from __future__ import annotations

import secrets

from fastapi import Request
from starlette.responses import Response

from keyloft.domain.errors import TooManyAttempts, Unauthenticated
from keyloft.services.callers import BasicLogin
from keyloft.web.caller import caller_address
from keyloft.web.console import csrf
from keyloft.web.console.dependencies import Console, ConsoleDep, GuardedPostDep, SignInFieldsDep
from keyloft.web.console.pages import CLIENTS, PREFIX, SIGN_IN, over_tls, redirect
from keyloft.web.console.rendering import status_of
from keyloft.web.console.routing import console_router
from keyloft.web.console.session import COOKIE, PRE_COOKIE, SessionUnavailable
from keyloft.web.wiring import ServicesDep

router = console_router()
PRE_COOKIE_SECONDS = 3600
ENDED_MESSAGES = {
    "signed-out": "You have signed out.",
    "expired": "Your session has ended. Sign in again.",
    "unavailable": "Sessions cannot be checked right now; try again shortly.",
}


def _sign_in_page(
    request: Request,
    con: Console,
    *,
    status: int = 200,
    username: str = "",
    errors: dict[str, str] | None = None,
    message: str | None = None,
) -> Response:
    nonce = secrets.token_urlsafe(18)
    response = con.pages.render(
        request,
        "sign_in.html",
        status=status,
        title="Sign in",
        csrf_token=con.codec.token(csrf.SIGN_IN_PURPOSE, nonce),
        username=username,
        errors=errors or {},
        message=message,
    )
    response.set_cookie(
        PRE_COOKIE,
        nonce,
        max_age=PRE_COOKIE_SECONDS,
        path=SIGN_IN,
        httponly=True,
        secure=over_tls(request),
        samesite="strict",
    )
    return response


@router.get("")
async def home() -> Response:
    return redirect(CLIENTS)


@router.get("/sign-in")
async def sign_in_form(request: Request, con: ConsoleDep, ended: str = "") -> Response:
    return _sign_in_page(request, con, message=ENDED_MESSAGES.get(ended))


@router.post("/sign-in")
async def sign_in(
    request: Request, con: ConsoleDep, services: ServicesDep, fields: SignInFieldsDep
) -> Response:
    username, password = fields.get("username", ""), fields.get("password", "")
    missing = {
        name: f"Enter your {name}." for name in ("username", "password") if not fields.get(name)
    }
    if missing:
        return _sign_in_page(request, con, status=400, username=username, errors=missing)
    if not con.sign_out_shared:
        return _sign_in_page(
            request,
            con,
            status=503,
            username=username,
            message="The console needs KEYLOFT_REDIS_URL when several workers serve.",
        )
    login = BasicLogin(username, password, caller_address(request))
    try:
        found = await services.console.sign_in(login, con.codec.fingerprint)
    except (Unauthenticated, TooManyAttempts) as exc:
        status = status_of(exc)
        message = exc.message if status == 429 else "Wrong username or password."
        response = _sign_in_page(
            request, con, status=status, username=username, errors={"password": message}
        )
        if isinstance(exc, TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if found is None:  # the principal went away between the two reads
        return _sign_in_page(request, con, status=401, username=username)
    principal, fingerprint = found
    session = con.codec.new(principal.id, principal.code, principal.org_id, fingerprint)
    response = redirect(CLIENTS)
    con.pages.keep(request, response, session)
    response.delete_cookie(PRE_COOKIE, path=SIGN_IN)
    return response


@router.post("/sign-out")
async def sign_out(con: ConsoleDep, post: GuardedPostDep) -> Response:
    reason = "signed-out"
    try:
        await con.ended.end(post.session.nonce, con.codec.remaining(post.session))
    except SessionUnavailable:
        reason = "unavailable"
    response = redirect(f"{SIGN_IN}?ended={reason}")
    response.delete_cookie(COOKIE, path=PREFIX)
    return response

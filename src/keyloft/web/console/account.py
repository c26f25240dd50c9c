"""The console's password page: an admin changes their own password, giving the current one.
The session that made the change goes on (its cookie gets the account's new fingerprint); every
other session of the admin ends. Tills have no such page: an operator sets theirs."""

from __future__ import annotations

from dataclasses import replace

from fastapi import Request
from starlette.responses import Response

from keyloft.domain.actors import PrincipalKind
from keyloft.domain.errors import KeyloftError, TooManyAttempts
from keyloft.services.own_password import PasswordChange
from keyloft.web.caller import caller_address, request_context
from keyloft.web.console.dependencies import (
    Console,
    ConsoleDep,
    GuardedPostDep,
    Refused,
    SignedIn,
    SignedInDep,
)
from keyloft.web.console.pages import PREFIX, redirect
from keyloft.web.console.rendering import page, status_of
from keyloft.web.console.routing import console_router
from keyloft.web.wiring import ServicesDep

router = console_router()
ACCOUNT = f"{PREFIX}/account"
FIELDS = ("current", "password", "repeat")
NOTICES = {"changed": "Your password was changed. Your other sessions have ended."}


def _admin(who: SignedIn) -> None:
    if who.actor.principal.kind is not PrincipalKind.ADMIN_USER:
        raise Refused("A Till's password is set by an operator (keyloft till passwd).")


async def _page(
    request: Request,
    con: Console,
    services: ServicesDep,
    who: SignedIn,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    notice: str | None = None,
) -> Response:
    org = await services.own_password.org(who.actor)
    return page(
        request,
        con,
        who,
        org,
        "account.html",
        status=status,
        title="Your password",
        errors=errors or {},
        problem=problem,
        notice=notice,
    )


@router.get("/account")
async def account_page(
    request: Request, con: ConsoleDep, services: ServicesDep, who: SignedInDep, done: str = ""
) -> Response:
    _admin(who)
    return await _page(request, con, services, who, notice=NOTICES.get(done))


@router.post("/account/password")
async def change_password(
    request: Request, con: ConsoleDep, services: ServicesDep, post: GuardedPostDep
) -> Response:
    _admin(post)
    fields = post.fields
    change = PasswordChange(
        current=fields.get("current", ""),
        new=fields.get("password", ""),
        repeat=fields.get("repeat", ""),
        address=caller_address(request),
    )
    try:
        fingerprint = await services.own_password.change(
            post.actor, change, con.codec.fingerprint, request_context(request)
        )
    except KeyloftError as error:
        field = error.field if error.field in FIELDS else None
        response = await _page(
            request,
            con,
            services,
            post,
            status=status_of(error),
            errors={field: error.message} if field else None,
            problem=None if field else error.message,
        )
        if isinstance(error, TooManyAttempts):
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    response = redirect(f"{ACCOUNT}?done=changed")
    con.pages.keep(request, response, replace(post.session, fingerprint=fingerprint))
    return response

"""What console routes depend on: the console's per-app parts (``ConsoleDep``), who is signed
in (``SignedInDep``), and the guard of every form POST (``GuardedPostDep``; the sign-in form's
own, ``SignInFieldsDep``). A check that fails raises ``NotSignedIn`` or ``Refused``, which
the console's route class (``routing``) answers with the sign-in page or a problem page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from keyloft.domain.actors import Actor
from keyloft.domain.orgs import Org
from keyloft.runtime import Runtime
from keyloft.services.container import Services
from keyloft.web.console import csrf
from keyloft.web.console.forms import FormUnreadable, read_form
from keyloft.web.console.pages import Pages, Viewer
from keyloft.web.console.session import (
    COOKIE,
    PRE_COOKIE,
    EndedSessions,
    Session,
    SessionCodec,
    SessionUnavailable,
)
from keyloft.web.wiring import ServicesDep, runtime_of


class Console:
    """The console's per-app parts, built on first use from the node's runtime."""

    def __init__(self, rt: Runtime) -> None:
        settings = rt.settings
        self.codec = SessionCodec(
            rt.server_keys.console_session,
            absolute_seconds=settings.console_session_seconds,
            idle_seconds=settings.console_idle_seconds,
            clock=lambda: rt.clock.now().timestamp(),
        )
        self.ended = EndedSessions(rt.redis)
        self.pages = Pages(self.codec)
        self.issuer = settings.issuer
        # The node's wall clock, read per page (a test may swap the runtime's clock).
        self.now: Callable[[], datetime] = lambda: rt.clock.now()
        # Whether DPoP proofs must carry the server's nonce (RFC 9449 §8): the pages say so.
        self.dpop_nonce = settings.dpop_nonce == "required"
        # Without Redis only a lone process can know every sign-out (see session.py).
        self.sign_out_shared = rt.redis is not None or settings.workers == 1


def console(request: Request) -> Console:
    found: Console | None = getattr(request.app.state, "console", None)
    if found is None:
        found = request.app.state.console = Console(runtime_of(request))
    return found


class NotSignedIn(Exception):
    """No session, or one that ended: ``reason`` tells the sign-in page why ("" for none)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Refused(Exception):
    """A POST refused before its form was acted on; answered with a problem page."""

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class SignedIn:
    actor: Actor
    session: Session
    csrf: str
    """The session's form token, which every POST of its pages must carry."""

    def viewer(self, org: Org) -> Viewer:
        return Viewer(
            principal=self.actor.principal,
            org_name=org.name,
            timezone=org.timezone,
            max_token_ttl=org.max_token_ttl,
            csrf=self.csrf,
        )


@dataclass(frozen=True, slots=True)
class GuardedPost(SignedIn):
    fields: dict[str, str]

    @property
    def etag(self) -> str | None:
        """The client version the form was read at (its ``etag`` field), for If-Match."""
        return self.fields.get("etag") or None


async def _signed_in(request: Request, con: Console, services: Services) -> SignedIn:
    """The signed-in actor, re-checked against the store on every request."""
    raw = request.cookies.get(COOKIE)
    session = con.codec.decode(raw)
    if session is None:
        raise NotSignedIn("expired" if raw else "")
    try:
        if await con.ended.ended(session.nonce):
            raise NotSignedIn("expired")
    except SessionUnavailable:
        raise NotSignedIn("unavailable") from None
    found = await services.callers.principal_for_session(
        session.login, con.codec.fingerprint, expected=session.fingerprint
    )
    if found is None:
        raise NotSignedIn("expired")
    principal, _ = found
    if principal.id != session.principal_id or principal.org_id != session.org_id:
        raise NotSignedIn("expired")
    token = con.codec.token(csrf.SESSION_PURPOSE, session.nonce)
    return SignedIn(Actor(principal=principal), session, token)


def _check_same_site(request: Request) -> None:
    if not csrf.same_site(request):
        raise Refused("The request did not come from this console.")


async def _form(request: Request) -> dict[str, str]:
    try:
        return await read_form(request)
    except FormUnreadable as exc:
        raise Refused(str(exc), status=400) from None


async def _console(request: Request) -> Console:
    return console(request)


ConsoleDep = Annotated[Console, Depends(_console)]


async def signed_in(request: Request, con: ConsoleDep, services: ServicesDep) -> SignedIn:
    return await _signed_in(request, con, services)


async def guarded_post(request: Request, con: ConsoleDep, services: ServicesDep) -> GuardedPost:
    """A form POST from this site, by a signed-in principal, with the session's token."""
    _check_same_site(request)
    try:
        who = await _signed_in(request, con, services)
    except NotSignedIn as ended:
        raise NotSignedIn(ended.reason or "expired") from None
    fields = await _form(request)
    if not csrf.token_ok(fields.get(csrf.FIELD), who.csrf):
        raise Refused("The form's security token is missing or stale.")
    return GuardedPost(who.actor, who.session, who.csrf, fields)


async def sign_in_fields(request: Request, con: ConsoleDep) -> dict[str, str]:
    """The sign-in form's fields, POSTed from this site with the token of its pre-session."""
    _check_same_site(request)
    fields = await _form(request)
    nonce = request.cookies.get(PRE_COOKIE, "")
    expected = con.codec.token(csrf.SIGN_IN_PURPOSE, nonce)
    if not nonce or not csrf.token_ok(fields.get(csrf.FIELD), expected):
        raise Refused("The sign-in form expired; reload it and try again.")
    return fields


SignedInDep = Annotated[SignedIn, Depends(signed_in)]
GuardedPostDep = Annotated[GuardedPost, Depends(guarded_post)]
SignInFieldsDep = Annotated[dict[str, str], Depends(sign_in_fields)]

"""The console's route class: what stops a console page is answered as a page for the person at
the browser, never as the API's JSON envelope. No session: to the sign-in page. A POST refused
by its guard: a problem page. The store unreachable: an HTML 503 page with ``Retry-After``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from keyloft.domain.errors import StoreUnavailable
from keyloft.web.console.dependencies import NotSignedIn, Refused, console
from keyloft.web.console.pages import PREFIX, SIGN_IN, redirect
from keyloft.web.console.session import COOKIE
from keyloft.web.errors import STORE_RETRY_SECONDS

log = logging.getLogger("keyloft.console")
OUTAGE_MESSAGE = "Keyloft cannot reach its database right now. Try again in a moment."


def _to_sign_in(reason: str) -> Response:
    response = redirect(f"{SIGN_IN}?ended={reason}" if reason else SIGN_IN)
    if reason:
        response.delete_cookie(COOKIE, path=PREFIX)
    return response


def _refused(request: Request, message: str, *, status: int = 403) -> Response:
    return console(request).pages.render(
        request, "problem.html", status=status, title="Request refused", message=message
    )


def _outage(request: Request) -> Response:
    response = console(request).pages.render(
        request,
        "problem.html",
        status=503,
        title="Temporarily unavailable",
        message=OUTAGE_MESSAGE,
    )
    response.headers["Retry-After"] = str(STORE_RETRY_SECONDS)
    return response


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedIn as ended:
                return _to_sign_in(ended.reason)
            except Refused as refusal:
                return _refused(request, refusal.message, status=refusal.status)
            except StoreUnavailable as exc:
                # The same failures the API answers with 503: the database is away.
                log.warning("console: store unavailable: %s", type(exc).__name__)
                return _outage(request)

        return page


def console_router() -> APIRouter:
    """A router for console pages, under the console's prefix and out of the API's schema."""
    return APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)

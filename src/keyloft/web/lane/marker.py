"""Marking a route for the direct lane where it is declared.

    @router.post("/v3/oauth/check")
    @direct
    async def check(request: Request) -> Response: ...

A marked endpoint takes only the request and reads its own body and query (``lane.body``,
``lane.query``, ``lane.form``), so the lane can call it without FastAPI's dependency
resolution; the lane's table is built from the marks when the app is created.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

Endpoint = Callable[[Request], Awaitable[Response]]
E = TypeVar("E", bound=Endpoint)
_MARK = "__keyloft_direct_lane__"


def direct(endpoint: E) -> E:
    setattr(endpoint, _MARK, True)
    return endpoint


def is_direct(endpoint: object) -> bool:
    return getattr(endpoint, _MARK, False) is True

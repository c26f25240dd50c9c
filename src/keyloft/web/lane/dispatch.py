"""The direct lane: hot routes answered without the framework's routing.

For a marked route's own method and path, this layer — just inside the request-context
layer — calls the endpoint itself: no route matching over every route, no dependency
resolution, no exception middleware, together most of a request's Python time once the
caches answer. An error is answered by the app's own exception handler for it, so the answer
is the one the router would have given. Any other request, or a path that differs in any way
(a trailing slash, a root path), goes on through the framework.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from keyloft.web.lane.table import LaneTable


class DirectLane:
    def __init__(self, app: ASGIApp, *, owner: FastAPI, table: LaneTable) -> None:
        self.app = app
        self.owner = owner
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._match(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.owner
        scope["route"] = route
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            response = await self._answer_error(request, exc)
        await response(scope, receive, send)

    def _match(self, scope: Scope) -> APIRoute | None:
        table = self.table
        method, path = scope["method"], scope["path"]
        route = table.exact.get((method, path))
        if route is not None or not table.templated:
            return route
        for wanted, candidate in table.templated:
            if wanted != method:
                continue
            matched = candidate.path_regex.match(path)
            if matched is not None:
                convertors = candidate.param_convertors
                scope["path_params"] = {
                    name: convertors[name].convert(value)
                    for name, value in matched.groupdict().items()
                }
                return candidate
        return None

    async def _answer_error(self, request: Request, exc: Exception) -> Response:
        handlers = self.owner.exception_handlers
        for cls in type(exc).__mro__:
            handler = handlers.get(cls)
            if handler is not None:
                answer: Any = handler(request, exc)
                if inspect.isawaitable(answer):
                    answer = await answer
                assert isinstance(answer, Response)
                return answer
        raise exc

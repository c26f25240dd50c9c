"""The direct lane for the hot endpoints: token minting, the decision point, introspection.

These endpoints are ordinary routes of the app (in the OpenAPI document, and answering 405 to
other methods through the router) whose functions take only the request. For their own method
and exact path this layer, just inside the request-context middleware, calls the function
itself: no route matching over every route, no dependency resolution, no exception
middleware — together most of a request's Python time once the caches answer. An error is
answered by the app's own exception handler for it, so the answer is the one the router
would have given. Any other request, or a path that differs in any way (a trailing slash, a
root path), goes through the app as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class HotPaths:
    def __init__(
        self,
        app: ASGIApp,
        *,
        owner: FastAPI,
        routers: Iterable[APIRouter],
        endpoints: Iterable[Endpoint],
    ) -> None:
        self.app = app
        self.owner = owner
        self.routers = tuple(routers)
        self.endpoints = frozenset(endpoints)
        self._routes: dict[tuple[str, str], APIRoute] | None = None

    def routes(self) -> dict[tuple[str, str], APIRoute]:
        # Collected at the first request, when the app's routes are all declared.
        if self._routes is None:
            found: dict[tuple[str, str], APIRoute] = {}
            for router in self.routers:
                for route in router.routes:
                    if isinstance(route, APIRoute) and route.endpoint in self.endpoints:
                        self._check(route)
                        for method in route.methods:
                            found[(method, route.path)] = route
            missing = self.endpoints - {route.endpoint for route in found.values()}
            if missing:
                names = ", ".join(sorted(endpoint.__name__ for endpoint in missing))
                raise RuntimeError(f"hot endpoints not in the given routers: {names}")
            self._routes = found
        return self._routes

    def _check(self, route: APIRoute) -> None:
        """The lane must answer exactly what the router would: same path, request only."""
        try:
            routed = self.owner.url_path_for(route.name)
        except NoMatchFound:
            routed = None
        if routed != route.path:
            raise RuntimeError(f"hot endpoint {route.name} is not routed at {route.path}")
        parameters = list(inspect.signature(route.endpoint).parameters)
        if parameters != ["request"] or route.dependencies:
            raise RuntimeError(
                f"hot endpoint {route.name} must take only the request, "
                f"not {parameters} or route dependencies"
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.routes().get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
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

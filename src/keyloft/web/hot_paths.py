"""The direct lane for the hot endpoints: token minting, the decision point, introspection.

These endpoints are ordinary routes of the app (in the OpenAPI document, and answering 405 to
other methods through the router) whose functions take only the request. For their own method
and exact path this layer, just inside the request-context middleware, calls the function
itself: no route matching over every route, no dependency resolution, no exception
middleware — together most of a request's Python time once the caches answer. An error is
answered by the app's own exception handler for it, so the answer is the one the router
would have given. Any other request, or a path that differs in any way (a trailing slash, a
root path), goes through the app as before. A route with path parameters (one client's
path) is matched by its own pattern, as the router matches it.
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


Table = tuple[dict[tuple[str, str], APIRoute], tuple[tuple[str, APIRoute], ...]]


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
        self._table: Table | None = None

    def routes(self) -> Table:
        """Exact paths by (method, path); then the routes with path parameters, by method."""
        # Collected at the first request, when the app's routes are all declared.
        if self._table is None:
            exact: dict[tuple[str, str], APIRoute] = {}
            templated: list[tuple[str, APIRoute]] = []
            for router in self.routers:
                for route in router.routes:
                    if isinstance(route, APIRoute) and route.endpoint in self.endpoints:
                        self._check(route)
                        for method in route.methods:
                            if route.param_convertors:
                                templated.append((method, route))
                            else:
                                exact[(method, route.path)] = route
            found = {route.endpoint for route in exact.values()}
            found |= {route.endpoint for _, route in templated}
            missing = self.endpoints - found
            if missing:
                names = ", ".join(sorted(endpoint.__name__ for endpoint in missing))
                raise RuntimeError(f"hot endpoints not in the given routers: {names}")
            for method, route in templated:
                self._check_unshadowed(method, route)
            self._table = exact, tuple(templated)
        return self._table

    def _check(self, route: APIRoute) -> None:
        """The lane must answer exactly what the router would: same path, request only."""
        probe = _probe_params(route)
        try:
            routed = self.owner.url_path_for(route.name, **probe)
        except NoMatchFound:
            routed = None
        if routed != route.path_format.format(**probe):
            raise RuntimeError(f"hot endpoint {route.name} is not routed at {route.path}")
        parameters = list(inspect.signature(route.endpoint).parameters)
        if parameters != ["request"] or route.dependencies:
            raise RuntimeError(
                f"hot endpoint {route.name} must take only the request, "
                f"not {parameters} or route dependencies"
            )

    def _check_unshadowed(self, method: str, hot: APIRoute) -> None:
        """No other route of the given routers may answer a path the template matches: the
        lane would take its requests."""
        for router in self.routers:
            for route in router.routes:
                if route is hot or not isinstance(route, APIRoute) or method not in route.methods:
                    continue
                probe = route.path_format.format(**_probe_params(route))
                if hot.path_regex.match(probe):
                    raise RuntimeError(
                        f"hot endpoint {hot.name} would take {method} {route.path} "
                        f"from {route.name}"
                    )

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
        exact, templated = self.routes()
        method, path = scope["method"], scope["path"]
        route = exact.get((method, path))
        if route is not None or not templated:
            return route
        for wanted, candidate in templated:
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


def _probe_params(route: APIRoute) -> dict[str, str]:
    """A value for each of the route's path parameters, to build one concrete path of it."""
    return dict.fromkeys(route.param_convertors, "probe")

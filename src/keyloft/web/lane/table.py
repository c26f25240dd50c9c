"""The direct lane's table, built and checked when the app is created.

A marked route must be answered by the lane exactly as the router would answer it: it is
routed where it says, its endpoint takes only the request (no dependencies), and no other
route answers a path its pattern matches. A declaration that breaks any of these fails the
app's creation, never a request.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, NoMatchFound

from keyloft.web.lane.marker import is_direct


class LaneDeclarationError(RuntimeError):
    """A route marked for the direct lane that the lane could not answer as the router."""


@dataclass(frozen=True, slots=True)
class LaneTable:
    exact: dict[tuple[str, str], APIRoute]
    """Routes without path parameters, by (method, path)."""
    templated: tuple[tuple[str, APIRoute], ...]
    """Routes with path parameters, by method, matched by their own pattern."""

    @classmethod
    def build(cls, app: FastAPI) -> LaneTable:
        routes = list(_api_routes(app.routes))
        exact: dict[tuple[str, str], APIRoute] = {}
        templated: list[tuple[str, APIRoute]] = []
        for route in routes:
            if not is_direct(route.endpoint):
                continue
            _check_declaration(app, route)
            for method in sorted(route.methods or ()):
                if route.param_convertors:
                    _check_unshadowed(method, route, routes)
                    templated.append((method, route))
                else:
                    exact[(method, route.path)] = route
        return cls(exact, tuple(templated))

    def __len__(self) -> int:
        return len(self.exact) + len(self.templated)


def _check_declaration(app: FastAPI, route: APIRoute) -> None:
    probe = _probe_params(route)
    try:
        routed = app.url_path_for(route.name, **probe)
    except NoMatchFound:
        routed = None
    if routed != route.path_format.format(**probe):
        raise LaneDeclarationError(f"direct route {route.name} is not routed at {route.path}")
    parameters = list(inspect.signature(route.endpoint).parameters)
    if parameters != ["request"] or route.dependencies:
        raise LaneDeclarationError(
            f"direct route {route.name} must take only the request, "
            f"not {parameters} or route dependencies"
        )


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route of the app, inside included routers too (FastAPI keeps an included
    router as one entry that holds the router's own routes)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def _check_unshadowed(method: str, hot: APIRoute, routes: Iterable[APIRoute]) -> None:
    """No other route may answer a path the pattern matches: the lane would take it."""
    for route in routes:
        if route is hot or method not in (route.methods or ()):
            continue
        probe = route.path_format.format(**_probe_params(route))
        if hot.path_regex.match(probe):
            raise LaneDeclarationError(
                f"direct route {hot.name} would take {method} {route.path} from {route.name}"
            )


def _probe_params(route: APIRoute) -> dict[str, str]:
    """A value for each of the route's path parameters, to build one concrete path of it."""
    return dict.fromkeys(route.param_convertors, "probe")

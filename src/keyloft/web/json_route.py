"""A route class for JSON APIs: a body must be declared as JSON, else 415 before parsing."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from keyloft.web.lane.body import is_json

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not self.body_field:
            return handler

        async def checked(request: Request) -> Response:
            if request.method in BODY_METHODS and not is_json(
                request.headers.get("content-type", "")
            ):
                raise HTTPException(415)
            return await handler(request)

        return checked

"""Outermost ASGI layer: request ids, the body-size cap, the server span, the request's
metrics, and one access-log line per request.

The request id (and trace id) is bound to the logging context for the whole request, so every
line logged meanwhile carries it. The access line holds method, route template, path (never
the query string, which may hold credentials), status and duration; headers and bodies are
never logged.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyloft.observability import logs
from keyloft.observability.tracing import ServerSpan
from keyloft.web import metrics
from keyloft.web.envelope import error
from keyloft.web.errors import HTTP_CODES

access_log = logging.getLogger("keyloft.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        observability: metrics.Observability | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.observability = observability or metrics.Observability(metrics=None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = scope.get("headers") or []
        named = dict(headers)
        offered = named.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _REQUEST_ID.fullmatch(offered) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        tracer = self.observability.tracer
        span = ServerSpan(tracer, scope["method"], scope["path"], headers) if tracer else None
        bound = logs.bind(
            logs.LogContext(
                request_id,
                trace_id=span.trace_id if span else None,
                span_id=span.span_id if span else None,
            )
        )
        status = 500
        raw_id = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", raw_id)]
            await send(message)

        try:
            length = named.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                status = 413 if length.isdigit() else 400
                code, message = HTTP_CODES[status]
                await error(status, code, message)(scope, receive, send_with_id)
            else:
                await self.app(scope, self._capped(receive), send_with_id)
        finally:
            self._finish(scope, status, time.perf_counter() - started, span)
        # Left bound when the request raised: the server's handler of the unhandled error
        # runs after this and logs too; the task ends with the request either way.
        logs.unbind(bound)

    def _finish(self, scope: Scope, status: int, seconds: float, span: ServerSpan | None) -> None:
        route = metrics.route_template(scope)
        if span is not None:
            span.end(route, status)
        if self.observability.metrics is not None:
            metrics.record(self.observability.metrics, scope, route, status, seconds)
        access_log.info(
            "%s %s %d %.2fms",
            scope["method"],
            scope["path"],
            status,
            seconds * 1000,
            extra={
                "method": scope["method"],
                "route": route,
                "path": scope["path"],
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            },
        )

    def _capped(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413)
            return message

        return capped

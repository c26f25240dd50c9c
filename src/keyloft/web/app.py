"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from keyloft import __version__
from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.web import console, errors, metrics
from keyloft.web.lane import DirectLane, LaneDeclarationError, LaneTable
from keyloft.web.middleware import RequestContextMiddleware
from keyloft.web.openapi import document
from keyloft.web.routes import (
    audit,
    check,
    health,
    integrations,
    oauth2,
    registration,
    tokens,
    usage,
    webhooks,
)

DESCRIPTION = """API client accounts for an org's integrations, wire-compatible with the v3
Integrations API. Every answer is an envelope: `{"data": …, "errors": null}` on success,
`{"data": null, "errors": [{"code", "message", "field"?}]}` on failure.

Authenticate management calls with HTTP Basic (admin username or Till code; the password or
its md5 hex) or with an access token in `X-CAP-API-OAUTH-TOKEN` / `Authorization: Bearer`."""


def operation_id(route: APIRoute) -> str:
    """The route's name in camelCase (``create_client`` → ``createClient``): the name a
    generated client gives the call."""
    head, *rest = route.name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class KeyloftApp(FastAPI):
    """FastAPI with Keyloft's own outermost layers in front of the framework's stack: the
    request context (ids, body cap, metrics, access log) and then the direct lane, so that
    the hot endpoints pass through no framework middleware at all; every other request goes
    on through the framework (its error, body-limit and telemetry middleware, exception
    handlers, router) as usual."""

    front: ASGIApp | None = None
    lane: DirectLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is not None and scope["type"] == "http":
            scope["app"] = self
            await self.front(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    def add_middleware(self, middleware_class: Any, *args: Any, **kwargs: Any) -> None:
        """Refused once the direct lane exists: the lane answers its routes in front of the
        framework's middleware, so a middleware added there would silently miss them. Add
        an outer layer beside ``RequestContextMiddleware`` instead."""
        if self.lane is not None and len(self.lane.table):
            raise LaneDeclarationError(
                f"{getattr(middleware_class, '__name__', middleware_class)} would not see the "
                "direct lane's routes; add it as an outer layer in keyloft.web.app"
            )
        super().add_middleware(middleware_class, *args, **kwargs)


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    observability: metrics.Observability | None = None,
) -> KeyloftApp:
    """Build the app; without ``runtime`` it is built at start-up and closed at shutdown.
    ``observability`` (metrics and tracer) is built from the settings unless given."""
    settings = settings or (runtime.settings if runtime else Settings())
    observability = observability or metrics.Observability.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or await build_runtime(settings)
        try:
            yield
        finally:
            if owned:
                await app.state.runtime.close()
            observability.close()

    app = KeyloftApp(
        title="Keyloft",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    if runtime is not None:
        app.state.runtime = runtime
    app.state.observability = observability
    errors.install(app)
    app.include_router(integrations.router)
    app.include_router(audit.router)
    app.include_router(usage.router)
    app.include_router(webhooks.router)
    app.include_router(tokens.router)
    app.include_router(oauth2.router)
    app.include_router(registration.router)
    app.include_router(check.router)
    app.include_router(health.router)
    console.install(app)
    if observability.metrics is not None:
        app.include_router(metrics.router)
    metrics.observe_errors(app)
    if app.user_middleware:  # the lane would answer its routes without them
        names = ", ".join(str(m.cls) for m in app.user_middleware)
        raise LaneDeclarationError(f"framework middleware the direct lane would skip: {names}")
    app.lane = DirectLane(app.framework, owner=app, table=LaneTable.build(app))
    app.front = RequestContextMiddleware(
        app.lane, max_body_bytes=settings.max_body_bytes, observability=observability
    )
    app.openapi = lambda: document.build(app)  # type: ignore[method-assign]
    return app

"""What the web layer reports about each request, and ``GET /metrics``.

Every figure is derived here, from the matched route template, the status and the type of the
error that answered the request — never from what the caller sent — so label values form a
small fixed set and neither services nor domain know metrics exist.
"""

from __future__ import annotations

import hmac
import inspect
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import SecretStr
from starlette.responses import Response
from starlette.types import Scope

from keyloft.config import Settings
from keyloft.domain import errors as e
from keyloft.domain.oauth import InvalidClient, InvalidScope, UnsupportedGrantType
from keyloft.observability.metrics import Metrics, NodeState
from keyloft.observability.tracing import build_tracer
from keyloft.storage.engine import pool_usage
from keyloft.web.envelope import error

UNMATCHED = "unmatched"
ERROR_KEY = "keyloft.error"
REASON_KEY = "keyloft.error.reason"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
TOKEN_ROUTES = {"/v3/oauth/token/generate": "v3", "/oauth2/token": "oauth2"}
METRICS_CHALLENGE = 'Bearer realm="keyloft-metrics"'

_REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (e.InvalidClientCredentials, "invalid_client"),
    (InvalidClient, "invalid_client"),
    (e.TooManyAttempts, "rate_limited"),
    (InvalidScope, "invalid_scope"),
    (UnsupportedGrantType, "unsupported_grant_type"),
    (e.StoreUnavailable, "unavailable"),
)
_AUTH_FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (e.InvalidToken, "token"),
    (e.InvalidClientCredentials, "client"),
    (InvalidClient, "client"),
    (e.Unauthenticated, "login"),
)


@dataclass
class Observability:
    """The metrics (None when disabled) and tracer (None when tracing is off) of one app."""

    metrics: Metrics | None
    tracer: Any = None
    metrics_token: SecretStr | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Observability:
        """Fails with ``TracingUnavailable`` when tracing is configured but not installed."""
        metrics = (
            Metrics(multiprocess_dir=settings.metrics_multiprocess_dir)
            if settings.metrics_enabled
            else None
        )
        tracer = (
            build_tracer(settings.otel_endpoint, settings.otel_service_name)
            if settings.otel_endpoint
            else None
        )
        return cls(metrics=metrics, tracer=tracer, metrics_token=settings.metrics_token)

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/v3/integrations/clients/{clientKey}``)."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def refusal_reason(error_type: type[BaseException] | None, status: int) -> str:
    if error_type is not None:
        for cls, reason in _REFUSALS:
            if issubclass(error_type, cls):
                return reason
    if status == 503:
        return "unavailable"
    if status >= 500:
        return "server_error"
    if status == 429:
        return "rate_limited"
    if status == 401:
        return "invalid_client"
    return "invalid_request"


def auth_failure_kind(error_type: type[BaseException] | None) -> str | None:
    if error_type is not None:
        for cls, kind in _AUTH_FAILURES:
            if issubclass(error_type, cls):
                return kind
    return None


def node_state(app: Any) -> NodeState | None:
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    if runtime is None:
        return None
    cache = runtime.cache
    return NodeState(
        cache_hits=cache.hits,
        cache_misses=cache.misses,
        cache_entries=len(cache),
        pool=pool_usage(runtime.database.engine),
    )


def record(metrics: Metrics, scope: Scope, route: str, status: int, seconds: float) -> None:
    """Count one answered request (called by the outermost middleware)."""
    method = scope["method"] if scope["method"] in METHODS else "OTHER"
    metrics.request(method, route, status, seconds)
    error_type = scope.get(ERROR_KEY)
    kind = auth_failure_kind(error_type)
    if kind is not None:
        metrics.auth_failure(kind)
    endpoint = TOKEN_ROUTES.get(route)
    if endpoint is not None:
        if status == 200:
            metrics.token_issued(endpoint)
        else:
            # A refused client assertion says why (a fixed set of words), for operators only.
            reason = scope.get(REASON_KEY) or refusal_reason(error_type, status)
            metrics.token_refused(endpoint, reason)
    if metrics.multiprocess and metrics.node_due(time.monotonic()):
        # A scrape reaches one worker: each keeps its own share of the gauges current (to
        # the second: reading the cache and pool on every request would cost the hot paths).
        state = node_state(scope.get("app"))
        if state is not None:
            metrics.node(state)


def observe_errors(app: FastAPI) -> None:
    """Note on the request which error type its exception handler answered, for ``record``."""
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _noting(handler)


def _noting(handler: Any) -> Any:
    # Keep the handler's kind: Starlette runs plain functions in a thread, coroutines inline.
    if inspect.iscoroutinefunction(handler):

        async def noted_async(request: Request, exc: Exception) -> Any:
            _note(request, exc)
            return await handler(request, exc)

        return noted_async

    def noted(request: Request, exc: Exception) -> Any:
        _note(request, exc)
        return handler(request, exc)

    return noted


def _note(request: Request, exc: Exception) -> None:
    request.scope[ERROR_KEY] = type(exc)
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        request.scope[REASON_KEY] = reason


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition; with a metrics token set, only for its bearer."""
    observability: Observability = request.app.state.observability
    metrics = observability.metrics
    assert metrics is not None  # the route is mounted only with metrics on
    if observability.metrics_token is not None:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        expected = observability.metrics_token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), expected
        ):
            return error(
                401,
                e.Unauthenticated.code,
                "The metrics token is missing or wrong.",
                field="Authorization",
                headers={"WWW-Authenticate": METRICS_CHALLENGE},
            )
    state = node_state(request.app)
    if state is not None:
        metrics.node(state)
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

"""Optional OpenTelemetry tracing: a server span per request, exported over OTLP/HTTP.

Tracing is on only when an endpoint is configured (``KEYLOFT_OTEL_ENDPOINT`` or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT``). The OpenTelemetry packages are the ``otel`` extra: they are
imported only then, and their absence is reported as a clear start-up error.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import Any

MISSING_PACKAGES = (
    "tracing is configured (KEYLOFT_OTEL_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT) but the "
    "OpenTelemetry packages are not installed: install Keyloft with its `otel` extra "
    "(pip install 'keyloft[otel]'), or unset the endpoint"
)
_PROPAGATED = (b"traceparent", b"tracestate")


class TracingUnavailable(RuntimeError):
    pass


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a collector's base URL (as the standard variable gives)."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def ensure_available() -> None:
    """TracingUnavailable unless the ``otel`` extra is installed."""
    for module in ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http"):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ModuleNotFoundError, ValueError):  # a parent package is missing or unusable
            found = False
        if not found:
            raise TracingUnavailable(MISSING_PACKAGES)


def build_tracer(endpoint: str, service_name: str) -> Any:
    """A tracer whose spans are batched to the OTLP/HTTP collector at ``endpoint``."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise TracingUnavailable(MISSING_PACKAGES) from exc
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint))))
    return provider.get_tracer("keyloft")


class ServerSpan:
    """The span of one request; current (so nested spans attach to it) until ``end``."""

    def __init__(self, tracer: Any, method: str, path: str, headers: Iterable[tuple[bytes, bytes]]):
        from opentelemetry import context, propagate, trace

        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in headers
            if name in _PROPAGATED
        }
        self._method = method
        self._span = tracer.start_span(
            method,
            context=propagate.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        )
        self._token = context.attach(trace.set_span_in_context(self._span))
        span_context = self._span.get_span_context()
        self.trace_id = trace.format_trace_id(span_context.trace_id)
        self.span_id = trace.format_span_id(span_context.span_id)

    def end(self, route: str, status: int) -> None:
        from opentelemetry import context, trace

        self._span.update_name(f"{self._method} {route}")
        self._span.set_attribute("http.route", route)
        self._span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self._span.set_status(trace.Status(trace.StatusCode.ERROR))
        self._span.end()
        context.detach(self._token)

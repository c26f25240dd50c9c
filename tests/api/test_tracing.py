"""OpenTelemetry: a server span per request with the route template and status, joined to the
caller's trace, and its trace id on the request's log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from keyloft.config import Settings
from keyloft.observability.logs import JsonFormatter
from keyloft.observability.metrics import Metrics
from keyloft.observability.tracing import traces_url
from keyloft.runtime import Runtime
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from keyloft.web.metrics import Observability
from tests.support.api import BASE_URL, OrgFixture, create_client

TEMPLATE = "/v3/integrations/clients/{clientKey}"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(
    runtime: Runtime, exporter: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    observability = Observability(metrics=Metrics(), tracer=provider.get_tracer("keyloft.test"))
    app = create_app(runtime=runtime, observability=observability)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        yield http
    provider.shutdown()


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("keyloft.access")
    level = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    yield out
    access.removeHandler(handler)
    access.setLevel(level)


async def test_request_makes_a_server_span_with_route_template_and_status(
    traced: httpx.AsyncClient, org: OrgFixture, exporter: InMemorySpanExporter
) -> None:
    created = await create_client(traced, org)
    exporter.clear()
    key = created["clientKey"]
    assert (
        await traced.get(f"/v3/integrations/clients/{key}", headers=org.auth)
    ).status_code == 200
    assert (
        await traced.get("/v3/integrations/clients/missing", headers=org.auth)
    ).status_code == 404
    found, missing = exporter.get_finished_spans()
    assert found.kind is SpanKind.SERVER
    assert found.name == f"GET {TEMPLATE}"
    assert found.attributes is not None
    assert found.attributes["http.route"] == TEMPLATE
    assert found.attributes["http.request.method"] == "GET"
    assert found.attributes["http.response.status_code"] == 200
    assert found.status.status_code is not StatusCode.ERROR
    assert missing.attributes is not None
    assert missing.attributes["http.response.status_code"] == 404
    assert missing.attributes["http.route"] == TEMPLATE


async def test_span_joins_the_callers_trace(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent_id = "00f067aa0ba902b7"
    response = await traced.get(
        "/health/live", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"}
    )
    assert response.status_code == 200
    (span,) = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == parent_id
    assert span.name == "GET /health/live"


async def test_unmatched_and_failed_requests(
    traced: httpx.AsyncClient,
    org: OrgFixture,
    runtime: Runtime,
    exporter: InMemorySpanExporter,
    tmp_path: Path,
) -> None:
    assert (await traced.get("/no/such/route")).status_code == 404
    dead = Database(create_engine(f"sqlite:///{tmp_path}/missing/dir/keyloft.db"))
    live, runtime.database = runtime.database, dead
    try:
        gone = await traced.get("/v3/integrations/clients", headers=org.auth)
    finally:
        runtime.database = live
        await dead.dispose()
    assert gone.status_code == 503
    unmatched, failed = exporter.get_finished_spans()
    assert unmatched.name == "GET unmatched"
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None
    assert failed.attributes["http.response.status_code"] == 503


async def test_log_lines_carry_the_trace_id(
    traced: httpx.AsyncClient, exporter: InMemorySpanExporter, json_log: io.StringIO
) -> None:
    response = await traced.get("/health/live")
    (span,) = exporter.get_finished_spans()
    (line,) = [json.loads(row) for row in json_log.getvalue().splitlines()]
    assert line["trace_id"] == format(span.context.trace_id, "032x")
    assert line["span_id"] == format(span.context.span_id, "016x")
    assert line["request_id"] == response.headers["X-Request-ID"]


async def test_untraced_log_lines_have_no_trace_id(
    http: httpx.AsyncClient, json_log: io.StringIO
) -> None:
    await http.get("/health/live")
    (line,) = [json.loads(row) for row in json_log.getvalue().splitlines()]
    assert "trace_id" not in line


def test_tracing_is_on_only_with_an_endpoint() -> None:
    assert Observability.from_settings(Settings(_env_file=None)).tracer is None
    configured = Settings(_env_file=None, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")
    assert configured.otel_endpoint == "http://127.0.0.1:4318"
    assert Observability.from_settings(configured).tracer is not None
    ours = Settings(_env_file=None, KEYLOFT_OTEL_ENDPOINT="http://collector:4318/")
    assert ours.otel_endpoint == "http://collector:4318/"


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example/v1/traces", "https://otel.example/v1/traces"),
    ],
)
def test_traces_url(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url

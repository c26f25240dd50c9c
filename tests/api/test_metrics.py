"""GET /metrics: request counts by route template, tokens issued and refused by reason,
authentication failures, client-cache lookups, DB pool gauges, and the metrics token."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from keyloft.runtime import Runtime
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OrgFixture, basic, create_client, mint

CLIENTS = "/v3/integrations/clients"
TOKEN = "/v3/oauth/token/generate"
OAUTH_TOKEN = "/oauth2/token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def scrape(http: httpx.AsyncClient, **kwargs: Any) -> dict[tuple[str, frozenset[Any]], float]:
    response = await http.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, frozenset[Any]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def client_basic(key: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}", **FORM}


async def test_tokens_issued_and_refused_by_endpoint_and_reason(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(http, org)
    key, secret = created["clientKey"], created["clientSecret"]
    before = await scrape(http)

    assert (await http.post(TOKEN, json={"key": key, "secret": secret})).status_code == 200
    assert (await http.post(TOKEN, json={"key": key, "secret": "wrong"})).status_code == 401
    assert (await http.post(TOKEN, json={"key": key})).status_code == 400
    grant = {"grant_type": "client_credentials"}
    ok = await http.post(OAUTH_TOKEN, data=grant, headers=client_basic(key, secret))
    assert ok.status_code == 200
    wrong = await http.post(OAUTH_TOKEN, data=grant, headers=client_basic(key, "wrong"))
    assert wrong.status_code == 401
    scoped = await http.post(
        OAUTH_TOKEN, data={**grant, "scope": "Transaction:read"}, headers=client_basic(key, secret)
    )
    assert scoped.json()["error"] == "invalid_scope"
    password_grant = await http.post(
        OAUTH_TOKEN, data={"grant_type": "password"}, headers=client_basic(key, secret)
    )
    assert password_grant.json()["error"] == "unsupported_grant_type"

    after = await scrape(http)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("keyloft_tokens_issued_total", endpoint="v3") == 1
    assert moved("keyloft_tokens_issued_total", endpoint="oauth2") == 1
    refused = "keyloft_tokens_refused_total"
    assert moved(refused, endpoint="v3", reason="invalid_client") == 1
    assert moved(refused, endpoint="v3", reason="invalid_request") == 1
    assert moved(refused, endpoint="oauth2", reason="invalid_client") == 1
    assert moved(refused, endpoint="oauth2", reason="invalid_scope") == 1
    assert moved(refused, endpoint="oauth2", reason="unsupported_grant_type") == 1
    assert moved("keyloft_auth_failures_total", kind="client") == 2


async def test_rate_limited_token_requests_are_refused_as_such(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime
) -> None:
    created = await create_client(http, org)
    limit = runtime.settings.auth_failure_limit
    for _ in range(limit):
        await http.post(TOKEN, json={"key": created["clientKey"], "secret": "wrong"})
    blocked = await http.post(
        TOKEN, json={"key": created["clientKey"], "secret": created["clientSecret"]}
    )
    assert blocked.status_code == 429
    samples = await scrape(http)
    refused = "keyloft_tokens_refused_total"
    assert value(samples, refused, endpoint="v3", reason="invalid_client") == limit
    assert value(samples, refused, endpoint="v3", reason="rate_limited") == 1
    assert value(samples, "keyloft_tokens_issued_total", endpoint="v3") == 0


async def test_authentication_failures_by_kind(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org)
    token = await mint(http, created["clientKey"], created["clientSecret"])
    before = await scrape(http)
    assert (await http.get(CLIENTS, headers=basic(org.admin.code, "nope"))).status_code == 401
    assert (await http.get(CLIENTS, headers=basic("nobody", "nope"))).status_code == 401
    garbled = {"X-CAP-API-OAUTH-TOKEN": token + "x"}
    assert (await http.get(CLIENTS, headers=garbled)).status_code == 401
    assert (await http.get(CLIENTS, headers=org.auth)).status_code == 200
    after = await scrape(http)
    failures = "keyloft_auth_failures_total"
    assert value(after, failures, kind="login") - value(before, failures, kind="login") == 2
    assert value(after, failures, kind="token") - value(before, failures, kind="token") == 1
    assert value(after, failures, kind="client") == value(before, failures, kind="client")


async def test_requests_are_labelled_by_route_template_never_raw_path(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    created = await create_client(http, org)
    key = created["clientKey"]
    for _ in range(3):
        assert (await http.get(f"{CLIENTS}/{key}", headers=org.auth)).status_code == 200
    assert (await http.get(f"{CLIENTS}/no-such-key", headers=org.auth)).status_code == 404
    assert (await http.get("/not/a/route/Marker731")).status_code == 404
    assert (await http.request("BREW", "/health/live")).status_code == 405
    response = await http.get("/metrics")
    text = response.text
    assert key not in text
    assert "no-such-key" not in text
    assert "Marker731" not in text
    assert "BREW" not in text
    samples = await scrape(http)
    template = "/v3/integrations/clients/{clientKey}"
    requests = "keyloft_http_requests_total"
    assert value(samples, requests, method="GET", route=template, status="200") == 3
    assert value(samples, requests, method="GET", route=template, status="404") == 1
    assert value(samples, requests, method="GET", route="unmatched", status="404") == 1
    assert value(samples, requests, method="OTHER", route="/health/live", status="405") == 1
    assert value(samples, requests, method="POST", route=CLIENTS, status="200") == 1
    histogram = "keyloft_http_request_duration_seconds"
    assert value(samples, f"{histogram}_count", method="GET", route=template) == 4
    assert value(samples, f"{histogram}_sum", method="GET", route=template) > 0
    assert value(samples, f"{histogram}_bucket", method="GET", route=template, le="+Inf") == 4
    # The scrape before this one is counted like any other request.
    assert value(samples, requests, method="GET", route="/metrics", status="200") == 1


async def test_oversized_body_is_counted_unmatched(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    response = await http.post(CLIENTS, content=b"x" * (1024 * 1024 + 1), headers=org.auth)
    assert response.status_code == 413
    samples = await scrape(http)
    requests = "keyloft_http_requests_total"
    assert value(samples, requests, method="POST", route="unmatched", status="413") == 1


async def test_client_cache_hits_and_misses(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime
) -> None:
    assert runtime.cache.enabled
    created = await create_client(http, org)
    before = await scrape(http)
    await mint(http, created["clientKey"], created["clientSecret"])
    middle = await scrape(http)
    await mint(http, created["clientKey"], created["clientSecret"])
    await mint(http, created["clientKey"], created["clientSecret"])
    after = await scrape(http)
    lookups = "keyloft_cache_lookups_total"
    assert value(middle, lookups, result="miss") - value(before, lookups, result="miss") >= 1
    assert value(after, lookups, result="hit") - value(middle, lookups, result="hit") >= 2
    assert value(after, lookups, result="miss") == value(middle, lookups, result="miss")
    assert value(after, lookups, result="hit") == runtime.cache.hits
    assert value(after, lookups, result="miss") == runtime.cache.misses
    assert value(after, "keyloft_cache_entries") == len(runtime.cache) >= 1


async def test_pool_gauges_follow_the_engine_pool(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime
) -> None:
    idle = await scrape(http)
    size = value(idle, "keyloft_db_pool_size")
    assert size >= 1
    assert value(idle, "keyloft_db_pool_checked_out") == 0
    assert ("keyloft_db_pool_overflow", frozenset()) in idle
    async with runtime.database.unit_of_work(write=False) as store:
        await store.keys.list()
        busy = await scrape(http)
    assert value(busy, "keyloft_db_pool_checked_out") == 1
    assert value(busy, "keyloft_db_pool_size") == size


@pytest.fixture
def guarded_http(runtime: Runtime) -> httpx.AsyncClient:
    settings = runtime.settings.model_copy(update={"metrics_token": SecretStr("scrape-Token-77")})
    app = create_app(settings, runtime=runtime)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)


async def test_metrics_token_is_required_when_set(guarded_http: httpx.AsyncClient) -> None:
    async with guarded_http as http:
        for headers in (
            {},
            {"Authorization": "Bearer scrape-Token-78"},
            {"Authorization": "Bearer scrape-Token-7"},
            {"Authorization": "Basic scrape-Token-77"},
        ):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert refused.json()["errors"][0]["field"] == "Authorization"
            assert "keyloft_" not in refused.text
        samples = await scrape(http, headers={"Authorization": "Bearer scrape-Token-77"})
        requests = "keyloft_http_requests_total"
        assert value(samples, requests, method="GET", route="/metrics", status="401") == 4


async def test_metrics_can_be_turned_off(runtime: Runtime) -> None:
    settings = runtime.settings.model_copy(update={"metrics_enabled": False})
    app = create_app(settings, runtime=runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/health/live")).status_code == 200


async def test_metrics_is_not_in_the_api_description(http: httpx.AsyncClient) -> None:
    assert "/metrics" not in (await http.get("/openapi.json")).json()["paths"]

"""Client governance through the API: ``ipAllowlist`` and ``tokenRateLimit`` are validated,
stored, shown and audited, and enforced at every token endpoint (docs/governance.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OrgFixture, client_basic, client_body, create_client
from tests.unit.fakes import FakeClock

CLIENTS = "/v3/integrations/clients"
TOKEN = "/v3/oauth/token/generate"
OAUTH = "/oauth2/token"
GRANT = {"grant_type": "client_credentials"}
Peer = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def peer(settings: Settings, database: Database) -> AsyncIterator[Peer]:
    """A node answering callers at ``address`` (keyword arguments override settings)."""
    made: list[tuple[httpx.AsyncClient, Runtime]] = []

    async def start(address: str, **overrides: Any) -> httpx.AsyncClient:
        rt = await build_runtime(settings.model_copy(update=overrides), database=database)
        transport = httpx.ASGITransport(app=create_app(runtime=rt), client=(address, 4321))
        client = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        made.append((client, rt))
        return client

    yield start
    for client, rt in made:
        await client.aclose()
        await rt.stop()


async def count_clients(http: httpx.AsyncClient, org: OrgFixture) -> int:
    answer = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    return len(answer.json()["data"])


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("ipAllowlist", ["10.0.0.0/8", "192.0.2.0/24", "::1", "not-an-ip"], "ipAllowlist[3]"),
        ("ipAllowlist", ["10.0.0.1/8"], "ipAllowlist[0]"),  # host bits set
        ("ipAllowlist", ["2001:db8::/129"], "ipAllowlist[0]"),
        ("ipAllowlist", [""], "ipAllowlist[0]"),
        ("ipAllowlist", [f"10.0.{n}.0/24" for n in range(51)], "ipAllowlist"),
        ("tokenRateLimit", {"perMinute": 0}, "tokenRateLimit.perMinute"),
        ("tokenRateLimit", {"perMinute": 1_000_001}, "tokenRateLimit.perMinute"),
    ],
)
async def test_invalid_governance_is_refused_and_nothing_stored(
    http: httpx.AsyncClient, org: OrgFixture, field: str, value: Any, named: str
) -> None:
    answer = await http.post(CLIENTS, json=client_body(org, **{field: value}), headers=org.auth)
    assert answer.status_code == 400, answer.text
    error = answer.json()["errors"][0]
    assert error["field"] == named
    assert answer.json()["data"] is None
    assert await count_clients(http, org) == 0


async def test_an_update_with_an_invalid_list_changes_nothing(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    client = await create_client(http, org, ipAllowlist=["10.0.0.0/8"])
    body = client_body(org, ipAllowlist=["10.0.0.0/8", "300.1.1.1"])
    answer = await http.put(f"{CLIENTS}/{client['clientKey']}", json=body, headers=org.auth)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "ipAllowlist[1]"
    read = await http.get(f"{CLIENTS}/{client['clientKey']}", headers=org.auth)
    assert read.json()["data"]["ipAllowlist"] == ["10.0.0.0/8"]


async def test_governance_is_canonical_shown_kept_and_cleared(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    client = await create_client(
        http,
        org,
        ipAllowlist=["203.0.113.7", "2001:DB8:0::/32", "10.0.0.0/8", "10.0.0.0/8"],
        tokenRateLimit={"perMinute": 30},
    )
    assert client["ipAllowlist"] == ["203.0.113.7/32", "2001:db8::/32", "10.0.0.0/8"]
    assert client["tokenRateLimit"] == {"perMinute": 30}
    assert client["mintLimitHitOn"] is None
    key = client["clientKey"]
    listed = (await http.get(CLIENTS, headers=org.auth)).json()["data"]
    assert listed[0]["ipAllowlist"] == client["ipAllowlist"]
    assert listed[0]["tokenRateLimit"] == {"perMinute": 30}

    # Absent on update: kept.
    kept = await http.put(f"{CLIENTS}/{key}", json=client_body(org), headers=org.auth)
    assert kept.json()["data"]["ipAllowlist"] == client["ipAllowlist"]
    assert kept.json()["data"]["tokenRateLimit"] == {"perMinute": 30}

    cleared = await http.put(
        f"{CLIENTS}/{key}",
        json=client_body(org, ipAllowlist=[], tokenRateLimit=None),
        headers=org.auth,
    )
    assert cleared.json()["data"]["ipAllowlist"] == []
    assert cleared.json()["data"]["tokenRateLimit"] is None


async def test_changes_are_audited(http: httpx.AsyncClient, org: OrgFixture) -> None:
    client = await create_client(http, org, ipAllowlist=["192.0.2.0/24"])
    key = client["clientKey"]
    body = client_body(org, ipAllowlist=["198.51.100.0/24"], tokenRateLimit={"perMinute": 5})
    assert (await http.put(f"{CLIENTS}/{key}", json=body, headers=org.auth)).status_code == 200
    events = (
        await http.get("/v3/integrations/audit", params={"clientKey": key}, headers=org.auth)
    ).json()["data"]["events"]
    update, create = events
    assert create["action"] == "client.create"
    assert create["changes"]["ipAllowlist"] == [None, ["192.0.2.0/24"]]
    assert "tokenRateLimit" not in create["changes"]
    assert update["action"] == "client.update"
    assert update["changes"]["ipAllowlist"] == [["192.0.2.0/24"], ["198.51.100.0/24"]]
    assert update["changes"]["tokenRateLimit"] == [None, {"perMinute": 5}]


async def test_an_address_outside_the_list_is_refused_as_a_wrong_secret(
    peer: Peer, org: OrgFixture
) -> None:
    http = await peer("198.51.100.9")
    listed = await create_client(http, org, name="listed", ipAllowlist=["192.0.2.0/24"])
    wrong = await http.post(TOKEN, json={"key": listed["clientKey"], "secret": "wrong"})
    refused = await http.post(
        TOKEN, json={"key": listed["clientKey"], "secret": listed["clientSecret"]}
    )
    assert refused.status_code == wrong.status_code == 401
    assert refused.json() == wrong.json()
    assert "address" not in refused.text

    basic = client_basic(listed["clientKey"], listed["clientSecret"])
    wrong_basic = client_basic(listed["clientKey"], "wrong")
    oauth_refused = await http.post(OAUTH, data=GRANT, headers=basic)
    oauth_wrong = await http.post(OAUTH, data=GRANT, headers=wrong_basic)
    assert oauth_refused.status_code == oauth_wrong.status_code == 401
    assert oauth_refused.json() == oauth_wrong.json()
    assert oauth_refused.json()["error"] == "invalid_client"
    assert oauth_refused.headers["WWW-Authenticate"] == oauth_wrong.headers["WWW-Authenticate"]

    metrics = (await http.get("/metrics")).text
    assert 'reason="address"' in metrics


async def test_allowed_addresses_ipv4_and_ipv6(peer: Peer, org: OrgFixture) -> None:
    v4 = await peer("192.0.2.77")
    v6 = await peer("2001:db8:1::5")
    client = await create_client(v4, org, ipAllowlist=["192.0.2.0/24", "2001:db8::/32"])
    secret = {"key": client["clientKey"], "secret": client["clientSecret"]}
    assert (await v4.post(TOKEN, json=secret)).status_code == 200
    assert (await v6.post(TOKEN, json=secret)).status_code == 200
    only_v4 = await create_client(v4, org, name="only-v4", ipAllowlist=["192.0.2.0/24"])
    other = {"key": only_v4["clientKey"], "secret": only_v4["clientSecret"]}
    assert (await v6.post(TOKEN, json=other)).status_code == 401


async def test_introspection_and_revocation_check_the_list(peer: Peer, org: OrgFixture) -> None:
    inside = await peer("192.0.2.1")
    outside = await peer("203.0.113.1")
    client = await create_client(inside, org, ipAllowlist=["192.0.2.0/24"])
    basic = client_basic(client["clientKey"], client["clientSecret"])
    token = (await inside.post(OAUTH, data=GRANT, headers=basic)).json()["access_token"]
    for path in ("/oauth2/introspect", "/oauth2/revoke"):
        refused = await outside.post(path, data={"token": token}, headers=basic)
        assert refused.status_code == 401, (path, refused.text)
        assert refused.json()["error"] == "invalid_client"
    introspected = await inside.post("/oauth2/introspect", data={"token": token}, headers=basic)
    assert introspected.json()["active"] is True


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    peer: Peer, org: OrgFixture
) -> None:
    proxied = await peer("127.0.0.1", trusted_proxies="127.0.0.1")
    direct = await peer("127.0.0.1", trusted_proxies="")
    client = await create_client(direct, org, ipAllowlist=["192.0.2.0/24"])
    secret = {"key": client["clientKey"], "secret": client["clientSecret"]}
    inside = {"X-Forwarded-For": "192.0.2.10"}
    outside = {"X-Forwarded-For": "192.0.2.10, 203.0.113.5"}
    assert (await proxied.post(TOKEN, json=secret, headers=inside)).status_code == 200
    assert (await proxied.post(TOKEN, json=secret, headers=outside)).status_code == 401
    # Not behind a trusted proxy: the header is the caller's own claim, and ignored.
    assert (await direct.post(TOKEN, json=secret, headers=inside)).status_code == 401


async def test_an_empty_list_allows_any_address(peer: Peer, org: OrgFixture) -> None:
    http = await peer("203.0.113.200")
    client = await create_client(http, org, ipAllowlist=[])
    secret = {"key": client["clientKey"], "secret": client["clientSecret"]}
    assert (await http.post(TOKEN, json=secret)).status_code == 200


def at_minute_start(clock: FakeClock, seconds: int = 0) -> None:
    clock.moment = datetime(2030, 5, 6, 7, 8, seconds, tzinfo=UTC)


async def test_the_mint_limit_answers_429_with_retry_after(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock, runtime: Runtime
) -> None:
    at_minute_start(clock, 20)
    client = await create_client(http, org, tokenRateLimit={"perMinute": 2})
    secret = {"key": client["clientKey"], "secret": client["clientSecret"]}
    basic = client_basic(client["clientKey"], client["clientSecret"])
    assert (await http.post(TOKEN, json=secret)).status_code == 200
    assert (await http.post(OAUTH, data=GRANT, headers=basic)).status_code == 200
    refused = await http.post(TOKEN, json=secret)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "40"
    assert refused.json()["errors"][0]["code"] == 4290
    clock.advance(10)
    oauth = await http.post(OAUTH, data=GRANT, headers=basic)
    assert oauth.status_code == 429
    assert oauth.headers["Retry-After"] == "30"
    assert oauth.json()["error"] == "slow_down"
    metrics = (await http.get("/metrics")).text
    assert 'reason="mint_limit"' in metrics

    # The hit is written with the next flush and shown, to the minute.
    before = await http.get(f"{CLIENTS}/{client['clientKey']}", headers=org.auth)
    assert before.json()["data"]["mintLimitHitOn"] is None
    assert await runtime.flush_mint_limit_hits() == 1
    shown = (await http.get(CLIENTS, headers=org.auth)).json()["data"][0]["mintLimitHitOn"]
    assert shown == "2030-05-06T12:38:00.000+0530"  # Asia/Kolkata

    clock.advance(30)  # the next minute
    assert (await http.post(TOKEN, json=secret)).status_code == 200


async def test_a_client_without_a_limit_is_not_limited(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock
) -> None:
    at_minute_start(clock)
    limited = await create_client(http, org, name="limited", tokenRateLimit={"perMinute": 1})
    free = await create_client(http, org, name="free")
    for _ in range(5):
        body = {"key": free["clientKey"], "secret": free["clientSecret"]}
        assert (await http.post(TOKEN, json=body)).status_code == 200
    body = {"key": limited["clientKey"], "secret": limited["clientSecret"]}
    assert (await http.post(TOKEN, json=body)).status_code == 200
    assert (await http.post(TOKEN, json=body)).status_code == 429

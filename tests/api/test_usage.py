"""Usage per client and hour: tokens issued, failed authentications of known clients by
reason, decisions allowed and denied — counted in memory, written by the usage flush in one
batch (never a write per request), read back by hour or by the org's days, within the
caller's org only, and forgotten after the retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from keyloft.domain.usage import MOMENT_PATTERN
from keyloft.runtime import Runtime
from keyloft.storage.store import Database
from tests.support.api import OrgFixture, Statements, create_client, mint, oauth_token
from tests.unit.fakes import FakeClock

CHECK = "/v3/oauth/check"
USAGE = "/v3/integrations/usage"
GRANTS = [
    {"entityId": 1, "permission": "READ", "resources": [".*v3/targetGroups/public.*"]},
    {"entityId": 2, "permission": "WRITE", "resources": []},
]


def client_usage(key: str) -> str:
    return f"/v3/integrations/clients/{key}/usage"


async def check(http: httpx.AsyncClient, token: str, method: str, path: str) -> bool:
    answer = await http.post(CHECK, json={"token": token, "method": method, "path": path})
    assert answer.status_code == 200, answer.text
    allowed: bool = answer.json()["data"]["allowed"]
    return allowed


async def read(http: httpx.AsyncClient, org: OrgFixture, url: str, **params: str) -> dict[str, Any]:
    answer = await http.get(url, params=params, headers=org.auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["errors"] is None
    data: dict[str, Any] = body["data"]
    return data


def nonzero(buckets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        bucket
        for bucket in buckets
        if bucket["tokensIssued"]
        or bucket["authFailures"]
        or bucket["decisionsAllowed"]
        or bucket["decisionsDenied"]
    ]


@pytest.fixture
def hour_clock(clock: FakeClock) -> FakeClock:
    """The clock at ten past the next hour, so a test's minutes stay in one hour."""
    clock.moment = (clock.now() + timedelta(hours=1)).replace(minute=10, second=0, microsecond=0)
    return clock


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_counts_per_hour_across_flushes(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, hour_clock: FakeClock
) -> None:
    client = await create_client(http, org, scopes=GRANTS)
    key, secret = client["clientKey"], client["clientSecret"]
    token = await mint(http, key, secret)
    await mint(http, key, secret)
    assert await check(http, token, "GET", "/v3/targetGroups/public/1")
    assert not await check(http, token, "GET", "/v3/targetGroups/secret")
    bad = await http.post("/v3/oauth/token/generate", json={"key": key, "secret": "wrong"})
    assert bad.status_code == 401
    await runtime.flush_usage()
    first_hour = hour_clock.now()

    hour_clock.advance(3600)  # the next hour: a new bucket, added to across flushes
    await mint(http, key, secret)
    await runtime.flush_usage()
    await mint(http, key, secret)
    await runtime.flush_usage()

    data = await read(http, org, client_usage(key), interval="hour")
    assert data["clientKey"] == key
    assert data["interval"] == "hour"
    assert data["timezone"] == org.timezone
    buckets = nonzero(data["buckets"])
    assert len(buckets) == 2
    first, second = buckets
    assert first["start"].endswith("+0530")
    start = datetime.strptime(first["start"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert start == first_hour.replace(minute=0)
    assert (first["tokensIssued"], first["decisionsAllowed"], first["decisionsDenied"]) == (
        2,
        1,
        1,
    )
    assert first["authFailures"] == 1
    assert first["authFailuresByReason"] == {"invalid_client": 1}
    assert (second["tokensIssued"], second["authFailures"]) == (2, 0)
    assert data["totals"] == {
        "tokensIssued": 4,
        "authFailures": 1,
        "decisionsAllowed": 1,
        "decisionsDenied": 1,
    }
    # The default range is the last 7 days by hour: every hour listed, empty ones too.
    assert len(data["buckets"]) in (7 * 24, 7 * 24 + 1)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_nothing_is_written_per_request_and_a_flush_is_one_batch(
    http: httpx.AsyncClient,
    org: OrgFixture,
    runtime: Runtime,
    statements: Statements,
    hour_clock: FakeClock,
) -> None:
    clients = [await create_client(http, org, name=f"c{n}", scopes=GRANTS) for n in range(3)]
    tokens = [await mint(http, c["clientKey"], c["clientSecret"]) for c in clients]
    await runtime.flush_usage()
    statements.clear()
    for _ in range(20):
        for client, token in zip(clients, tokens, strict=True):
            await mint(http, client["clientKey"], client["clientSecret"])
            await check(http, token, "GET", "/v3/targetGroups/public/1")
            await check(http, token, "DELETE", "/v3/targetGroups/public/1")
    assert not [s for s in statements.queries() if "client_usage" in s]
    assert not [s for s in statements.queries() if not s.lstrip().upper().startswith("SELECT")]
    await runtime.flush_usage()
    writes = [s for s in statements.queries() if "client_usage" in s]
    assert len(writes) == 1  # 3 clients x 3 counters, one statement
    assert "ON CONFLICT" in writes[0].upper()
    for client in clients:
        data = await read(http, org, client_usage(client["clientKey"]))
        assert data["totals"]["tokensIssued"] == 21
        assert data["totals"]["decisionsAllowed"] == 20
        assert data["totals"]["decisionsDenied"] == 20


async def test_failures_of_unknown_clients_are_not_stored_and_reasons_are_kept(
    http: httpx.AsyncClient,
    org: OrgFixture,
    runtime: Runtime,
    database: Database,
    hour_clock: FakeClock,
) -> None:
    client = await create_client(http, org, scopes=GRANTS)
    key = client["clientKey"]
    await http.post("/v3/oauth/token/generate", json={"key": "no-such-key", "secret": "x"})
    wrong = await http.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(key, "wrong")
    )
    assert wrong.status_code == 401
    scoped = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "Transaction:read"},
        auth=(key, client["clientSecret"]),
    )
    assert scoped.status_code == 400, scoped.text
    await runtime.flush_usage()
    async with database.unit_of_work(write=False) as store:
        rows = await store.usage.org_hours(
            org.id, hour_clock.now() - timedelta(hours=1), hour_clock.now() + timedelta(hours=1)
        )
    assert {(row.metric, row.reason, row.count) for row in rows} == {
        ("auth_failures", "invalid_client", 1),
        ("auth_failures", "invalid_scope", 1),
    }
    data = await read(http, org, client_usage(key))
    assert nonzero(data["buckets"])[0]["authFailuresByReason"] == {
        "invalid_client": 1,
        "invalid_scope": 1,
    }


async def test_days_are_the_orgs_days(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, clock: FakeClock
) -> None:
    client = await create_client(http, org)
    key, secret = client["clientKey"], client["clientSecret"]
    # 18:00 and 19:00 UTC fall on two different days in Kolkata (+05:30).
    day = clock.now().astimezone(UTC).replace(hour=18, minute=0, second=0, microsecond=0)
    clock.moment = day - timedelta(days=1)
    await mint(http, key, secret)
    clock.moment = day - timedelta(days=1) + timedelta(hours=1)
    await mint(http, key, secret)
    await mint(http, key, secret)
    clock.moment = day
    await runtime.flush_usage()
    data = await read(http, org, client_usage(key), interval="day")
    assert data["interval"] == "day"
    assert len(data["buckets"]) in (90, 91)
    used = nonzero(data["buckets"])
    assert [bucket["tokensIssued"] for bucket in used] == [1, 2]
    assert all(bucket["start"].endswith("T00:00:00.000+0530") for bucket in used)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "week"}, "interval"),
        ({"interval": ""}, "interval"),
        ({"from": ""}, "from"),
        ({"from": "20260101"}, "from"),
        ({"to": "2026-01-01 10:00"}, "to"),
        ({"to": "1970-12-31"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"to": "9999-12-31T23:59:59-12:00", "interval": "day"}, "to"),
        ({"from": "0001-01-01T00:00:00+14:00"}, "from"),
        ({"from": "2026-01-02", "to": "2026-01-01"}, "from"),
        ({"from": "2026-01-01", "to": "2026-03-01", "interval": "hour"}, "from"),
        ({"from": "2024-01-01", "to": "2026-01-01", "interval": "day"}, "from"),
    ],
)
async def test_bad_parameters_are_400_naming_the_field(
    http: httpx.AsyncClient, org: OrgFixture, params: dict[str, str], field: str
) -> None:
    client = await create_client(http, org)
    for url in (client_usage(client["clientKey"]), USAGE):
        answer = await http.get(url, params=params, headers=org.auth)
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["data"] is None
        assert [error["field"] for error in body["errors"]] == [field]
        assert body["errors"][0]["code"] == 1001


async def test_v3_dates_and_plain_dates_are_accepted(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    client = await create_client(http, org)
    data = await read(
        http,
        org,
        client_usage(client["clientKey"]),
        **{"from": "2026-04-15T14:14:06.104+0530", "to": "2026-04-16", "interval": "hour"},
    )
    # Hours are UTC hours, which start at half past in Kolkata; the range is widened to
    # whole hours: 08:44Z falls in 08:00Z, and midnight in Kolkata (18:30Z) in 18:00Z.
    assert data["from"] == "2026-04-15T13:30:00.000+0530"
    assert data["to"] == "2026-04-16T00:30:00.000+0530"
    assert len(data["buckets"]) == 11


@pytest.mark.parametrize(
    "params",
    [
        # The extremes the schema admits: the first and last accepted years, the widest offsets.
        {"from": "1971-01-01T00:00+23:59", "to": "1971-01-02"},
        {"from": "9998-12-25", "to": "9998-12-31T23:59:59.999999-23:59"},
        {"from": "9998-01-01", "to": "9998-12-31T23:59-2359", "interval": "day"},
        {"to": "1971-01-01"},
        {"to": "1971-01-01", "interval": "day"},
        {"from": "2026-02-28T12:00:00.5Z", "to": "2026-03-31T12:00:00.5Z"},  # 31 days exactly
    ],
)
async def test_what_the_schema_admits_is_accepted(
    http: httpx.AsyncClient, org: OrgFixture, params: dict[str, str]
) -> None:
    client = await create_client(http, org)
    for url in (client_usage(client["clientKey"]), USAGE):
        data = await read(http, org, url, **params)
        assert data["buckets"]


async def test_an_unknown_client_is_a_404(http: httpx.AsyncClient, org: OrgFixture) -> None:
    answer = await http.get(client_usage("no-such-client"), headers=org.auth)
    assert answer.status_code == 404, answer.text


async def test_the_document_states_what_is_enforced(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    for path, statuses in [
        (USAGE, ["200", "400", "401", "403", "429", "503"]),
        (client_usage("{clientKey}"), ["200", "400", "401", "403", "404", "429", "503"]),
    ]:
        operation = paths[path]["get"]
        schemas = {p["name"]: p["schema"] for p in operation["parameters"]}
        assert schemas["interval"]["enum"] == ["hour", "day"]
        assert schemas["from"]["pattern"] == schemas["to"]["pattern"] == MOMENT_PATTERN
        before, span = operation["x-keyloft-query-rules"]
        assert (before["rule"], before["earlier"], before["later"]) == ("before", "from", "to")
        assert (span["rule"], span["days"], span["by"]) == (
            "max-span",
            {"hour": 31, "day": 400},
            "interval",
        )
        described = {p["name"]: p.get("description", "") for p in operation["parameters"]}
        assert "at most 31 days apart by hour or 400 by day" in described["from"]
        assert "Default: now" in described["to"]
        assert sorted(operation["responses"]) == statuses


async def test_usage_is_sealed_within_the_org(
    http: httpx.AsyncClient,
    org: OrgFixture,
    other_org: OrgFixture,
    runtime: Runtime,
    hour_clock: FakeClock,
) -> None:
    ours = await create_client(http, org, scopes=GRANTS)
    theirs = await create_client(http, other_org, name="theirs")
    await mint(http, ours["clientKey"], ours["clientSecret"])
    await mint(http, theirs["clientKey"], theirs["clientSecret"])
    await runtime.flush_usage()
    unknown = await http.get(client_usage("no-such-key"), headers=org.auth)
    foreign = await http.get(client_usage(theirs["clientKey"]), headers=org.auth)
    assert unknown.status_code == foreign.status_code == 404
    assert unknown.json() == foreign.json()
    data = await read(http, org, USAGE)
    assert data["totals"]["tokensIssued"] == 1
    assert [top["clientKey"] for top in data["topClients"]] == [ours["clientKey"]]
    # A token caller with the rights to read the org's clients sees the same.
    token = await oauth_token(http, ours)
    answer = await http.get(USAGE, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403  # its grant on All is write only
    assert (await http.get(USAGE)).status_code == 401


async def test_org_totals_and_top_clients(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, hour_clock: FakeClock
) -> None:
    clients = [await create_client(http, org, name=f"top-{n}") for n in range(12)]
    for n, client in enumerate(clients):
        for _ in range(n):
            await mint(http, client["clientKey"], client["clientSecret"])
    await runtime.flush_usage()
    data = await read(http, org, USAGE, interval="day")
    assert data["totals"]["tokensIssued"] == sum(range(12))
    top = data["topClients"]
    assert [entry["name"] for entry in top] == [f"top-{n}" for n in range(11, 1, -1)]
    assert top[0]["tokensIssued"] == 11
    assert top[0]["isValid"] is True


async def test_counts_older_than_the_retention_are_purged(
    http: httpx.AsyncClient,
    org: OrgFixture,
    runtime: Runtime,
    database: Database,
    hour_clock: FakeClock,
) -> None:
    client = await create_client(http, org)
    await mint(http, client["clientKey"], client["clientSecret"])
    await runtime.flush_usage()
    assert await runtime.purge_usage() == 0
    hour_clock.advance((runtime.settings.usage_retention_days + 1) * 86400)
    await mint(http, client["clientKey"], client["clientSecret"])
    await runtime.flush_usage()
    assert await runtime.purge_usage() == 1
    async with database.unit_of_work(write=False) as store:
        rows = await store.usage.client_hours(
            client["id"], hour_clock.now() - timedelta(days=500), hour_clock.now()
        )
    assert [row.count for row in rows] == [1]


async def test_the_counters_are_bounded_between_flushes(runtime: Runtime) -> None:
    counts = runtime.usage.counts
    counts._limit = 3  # a small bound, to show what happens at the real one
    now = datetime.now(UTC)
    for client_id in range(5):
        counts.add(1, client_id, now, "tokens")
    counts.add(1, 0, now, "tokens")  # a counter already held keeps counting
    assert len(counts) == 3
    batch, dropped = counts.take()
    assert dropped == 2
    assert sum(batch.values()) == 4
    assert len(counts) == 0
    assert counts.dropped == 0

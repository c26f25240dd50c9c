"""Expiring client secrets (``clientSecretExpiresAt``, docs/governance.md): set from
``secretLifetimeSeconds`` on create and rotation or from the org's default, shown in answers
and lists, refused once expired exactly as a wrong secret is, and audited."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from keyloft.services.clock import SystemClock
from keyloft.services.org_settings import OrgSettings
from keyloft.storage.store import Database
from tests.support.api import (
    OPERATOR,
    OrgFixture,
    client_basic,
    client_body,
    create_client,
    make_org,
)
from tests.support.registration import metadata, register
from tests.unit.fakes import FakeClock

CLIENTS = "/v3/integrations/clients"
TOKEN = "/v3/oauth/token/generate"
OAUTH = "/oauth2/token"
GRANT = {"grant_type": "client_credentials"}
START = datetime(2030, 1, 1, 0, 0, 0, tzinfo=UTC)
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


async def set_org_lifetime(database: Database, org_id: int, seconds: int) -> None:
    async with database.unit_of_work(write=True) as store:
        await OrgSettings(store, SystemClock(), operator=OPERATOR).update(
            org_id, ttl_ceiling=30 * 24 * 3600, secret_lifetime=seconds
        )


@pytest.mark.parametrize("database_url", STORES, indirect=True)
async def test_an_expired_secret_is_refused_as_a_wrong_one(
    http: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    clock.moment = START
    org = await make_org(database, "Expiring", timezone="UTC")
    client = await create_client(http, org, secretLifetimeSeconds=3600)
    assert client["clientSecretExpiresAt"] == "2030-01-01T01:00:00.000+0000"
    listed = (await http.get(CLIENTS, headers=org.auth)).json()["data"]
    assert listed[0]["clientSecretExpiresAt"] == "2030-01-01T01:00:00.000+0000"
    secret = {"key": client["clientKey"], "secret": client["clientSecret"]}
    basic = client_basic(client["clientKey"], client["clientSecret"])
    clock.advance(3599)
    assert (await http.post(TOKEN, json=secret)).status_code == 200
    assert (await http.post(OAUTH, data=GRANT, headers=basic)).status_code == 200
    clock.advance(1)
    refused = await http.post(TOKEN, json=secret)
    wrong = await http.post(TOKEN, json={"key": client["clientKey"], "secret": "wrong"})
    assert refused.status_code == wrong.status_code == 401
    assert refused.json() == wrong.json()
    oauth = await http.post(OAUTH, data=GRANT, headers=basic)
    oauth_wrong = await http.post(
        OAUTH, data=GRANT, headers=client_basic(client["clientKey"], "wrong")
    )
    assert oauth.status_code == 401
    assert oauth.json() == oauth_wrong.json()
    assert 'reason="secret_expired"' in (await http.get("/metrics")).text

    # A rotation gives a new secret with a new lifetime; it works again.
    rotated = await http.post(
        f"{CLIENTS}/{client['clientKey']}/secret",
        json={"secretLifetimeSeconds": 86400},
        headers=org.auth,
    )
    assert rotated.status_code == 200, rotated.text
    data = rotated.json()["data"]
    assert data["clientSecretExpiresAt"] == "2030-01-02T01:00:00.000+0000"
    renewed = {"key": client["clientKey"], "secret": data["clientSecret"]}
    assert (await http.post(TOKEN, json=renewed)).status_code == 200
    events = (
        await http.get(
            "/v3/integrations/audit",
            params={"clientKey": client["clientKey"]},
            headers=org.auth,
        )
    ).json()["data"]["events"]
    rotate, create = events
    assert rotate["action"] == "client.secret.rotate"
    assert rotate["changes"]["clientSecretExpiresAt"] == [
        "2030-01-01T01:00:00+00:00",
        "2030-01-02T01:00:00+00:00",
    ]
    assert create["changes"]["clientSecretExpiresAt"] == [None, "2030-01-01T01:00:00+00:00"]


async def test_without_a_lifetime_a_secret_never_expires(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock
) -> None:
    clock.moment = START
    client = await create_client(http, org)
    assert client["clientSecretExpiresAt"] is None
    clock.advance(10 * 365 * 24 * 3600)
    body = {"key": client["clientKey"], "secret": client["clientSecret"]}
    assert (await http.post(TOKEN, json=body)).status_code == 200


async def test_the_org_default_applies_unless_the_request_says(
    http: httpx.AsyncClient, database: Database, org: OrgFixture, clock: FakeClock
) -> None:
    clock.moment = START
    await set_org_lifetime(database, org.id, 7 * 24 * 3600)
    by_default = await create_client(http, org, name="by-default")
    assert by_default["clientSecretExpiresAt"] == "2030-01-08T05:30:00.000+0530"
    never = await create_client(http, org, name="never", secretLifetimeSeconds=0)
    assert never["clientSecretExpiresAt"] is None
    rotated = await http.post(f"{CLIENTS}/{never['clientKey']}/secret", json={}, headers=org.auth)
    assert rotated.json()["data"]["clientSecretExpiresAt"] == "2030-01-08T05:30:00.000+0530"
    # Ending a grace period keeps the current secret's expiry.
    ended = await http.delete(f"{CLIENTS}/{never['clientKey']}/secret/previous", headers=org.auth)
    assert ended.status_code == 200
    read = await http.get(f"{CLIENTS}/{never['clientKey']}", headers=org.auth)
    assert read.json()["data"]["clientSecretExpiresAt"] == "2030-01-08T05:30:00.000+0530"


@pytest.mark.parametrize("lifetime", [-1, 59, 10 * 366 * 24 * 3600 + 1])
async def test_a_lifetime_out_of_range_is_refused(
    http: httpx.AsyncClient, org: OrgFixture, lifetime: int
) -> None:
    answer = await http.post(
        CLIENTS, json=client_body(org, secretLifetimeSeconds=lifetime), headers=org.auth
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "secretLifetimeSeconds"
    assert (await http.get(CLIENTS, headers=org.auth)).json()["data"] == []
    client = await create_client(http, org)
    rotated = await http.post(
        f"{CLIENTS}/{client['clientKey']}/secret",
        json={"secretLifetimeSeconds": lifetime},
        headers=org.auth,
    )
    assert rotated.status_code == 400
    assert rotated.json()["errors"][0]["field"] == "secretLifetimeSeconds"
    body = {"key": client["clientKey"], "secret": client["clientSecret"]}
    assert (await http.post(TOKEN, json=body)).status_code == 200  # the old secret stays


async def test_registration_answers_the_expiry_in_epoch_seconds(
    http: httpx.AsyncClient, database: Database, org: OrgFixture, clock: FakeClock
) -> None:
    clock.moment = START
    await set_org_lifetime(database, org.id, 3600)
    answer = await register(http, org.auth, metadata(org))
    assert answer.status_code == 201, answer.text
    assert answer.json()["client_secret_expires_at"] == int(START.timestamp()) + 3600

"""The console and client governance: a client's page shows its allowed addresses and mint
limit and sets both in one audited change, refusing a bad network beside its field; the
clients page flags a client that went beyond its mint limit."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from keyloft.runtime import Runtime
from tests.console.api_reads import api_client, audit_events
from tests.console.page_text import text_of, textarea
from tests.support.api import OrgFixture, create_client
from tests.support.console import CLIENTS, ORIGIN, error_for, field_value, sign_in
from tests.unit.fakes import FakeClock


async def post_governance(
    http: httpx.AsyncClient,
    key: str,
    token: str,
    allowlist: str,
    limit: str,
    *,
    etag: str | None = None,
) -> httpx.Response:
    if etag is None:
        etag = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    data = {"csrf_token": token, "etag": etag, "ipAllowlist": allowlist, "tokenRateLimit": limit}
    return await http.post(f"{CLIENTS}/{key}/governance", data=data, headers=ORIGIN)


async def test_the_page_shows_and_sets_addresses_and_limit(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    client = await create_client(http, org)
    key = client["clientKey"]
    token = await sign_in(http, org.admin)
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert text_of(page, "ip-allowlist") == "any address"
    assert text_of(page, "mint-limit") == "none"

    answer = await post_governance(http, key, token, "192.0.2.0/24\n2001:DB8::/32\n\n", "12")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{CLIENTS}/{key}?done=governance-saved"
    page = (await http.get(answer.headers["location"])).text
    assert text_of(page, "ip-allowlist") == "192.0.2.0/24, 2001:db8::/32"
    assert text_of(page, "mint-limit") == "12 tokens a minute"
    assert textarea(page, "ipAllowlist") == "192.0.2.0/24\n2001:db8::/32"
    read = await api_client(http, org, key)
    assert read["ipAllowlist"] == ["192.0.2.0/24", "2001:db8::/32"]
    assert read["tokenRateLimit"] == {"perMinute": 12}
    update = (await audit_events(http, org, key))[0]
    assert update["action"] == "client.update"
    assert set(update["changes"]) == {"ipAllowlist", "tokenRateLimit"}

    cleared = await post_governance(http, key, token, "", "")
    assert cleared.status_code == 303
    read = await api_client(http, org, key)
    assert read["ipAllowlist"] == []
    assert read["tokenRateLimit"] is None


async def test_a_bad_network_is_shown_beside_the_field_and_nothing_changes(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    client = await create_client(http, org, ipAllowlist=["192.0.2.0/24"])
    key = client["clientKey"]
    token = await sign_in(http, org.admin)
    answer = await post_governance(http, key, token, "192.0.2.0/24\n10.0.0.1/8", "5")
    assert answer.status_code == 400
    message = error_for(answer.text, "ipAllowlist")
    assert message is not None
    assert message.startswith("ipAllowlist[1] is not")
    assert textarea(answer.text, "ipAllowlist") == "192.0.2.0/24\n10.0.0.1/8"  # kept to fix
    bad_limit = await post_governance(http, key, token, "", "many")
    assert bad_limit.status_code == 400
    assert error_for(bad_limit.text, "tokenRateLimit") == (
        "The limit must be a whole number of tokens."
    )
    read = await api_client(http, org, key)
    assert read["ipAllowlist"] == ["192.0.2.0/24"]
    assert read["tokenRateLimit"] is None


async def test_a_stale_form_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    client = await create_client(http, org)
    key = client["clientKey"]
    token = await sign_in(http, org.admin)
    stale = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    assert (await post_governance(http, key, token, "", "3")).status_code == 303
    answer = await post_governance(http, key, token, "192.0.2.0/24", "", etag=stale)
    assert answer.status_code == 412
    assert "changed since you read it" in answer.text
    read = await api_client(http, org, key)
    assert read["ipAllowlist"] == []
    assert read["tokenRateLimit"] == {"perMinute": 3}


async def test_a_client_beyond_its_limit_is_flagged(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock, runtime: Runtime
) -> None:
    clock.moment = datetime(2030, 5, 6, 7, 8, 0, tzinfo=UTC)
    client = await create_client(http, org, tokenRateLimit={"perMinute": 1})
    body = {"key": client["clientKey"], "secret": client["clientSecret"]}
    await sign_in(http, org.admin)
    assert "Hit its mint limit" not in (await http.get(CLIENTS)).text
    assert (await http.post("/v3/oauth/token/generate", json=body)).status_code == 200
    assert (await http.post("/v3/oauth/token/generate", json=body)).status_code == 429
    await runtime.flush_mint_limit_hits()
    assert "Hit its mint limit" in (await http.get(CLIENTS)).text
    page = (await http.get(f"{CLIENTS}/{client['clientKey']}")).text
    assert text_of(page, "mint-limit-hit").startswith("Hit its limit")


async def rotate(http: httpx.AsyncClient, key: str, token: str, lifetime: str) -> httpx.Response:
    etag = field_value((await http.get(f"{CLIENTS}/{key}")).text, "etag")
    data = {
        "csrf_token": token,
        "etag": etag,
        "graceSeconds": "0",
        "secretLifetimeSeconds": lifetime,
    }
    return await http.post(f"{CLIENTS}/{key}/secret", data=data, headers=ORIGIN)


async def test_secret_expiry_is_shown_and_warned_of_two_weeks_ahead(
    http: httpx.AsyncClient, org: OrgFixture, clock: FakeClock
) -> None:
    clock.moment = datetime(2030, 1, 1, tzinfo=UTC)
    client = await create_client(http, org, secretLifetimeSeconds=30 * 24 * 3600)
    key = client["clientKey"]
    token = await sign_in(http, org.admin)
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert text_of(page, "secret-expires") == "2030-01-31 05:30 IST"
    assert 'id="secret-warning"' not in page
    assert "Secret expires soon" not in (await http.get(CLIENTS)).text

    clock.advance(16 * 24 * 3600 + 1)  # 14 days less a second before it expires
    await sign_in(http, org.admin)  # the session of 16 days ago has ended
    page = (await http.get(f"{CLIENTS}/{key}")).text
    assert text_of(page, "secret-warning") == "Expires within 14 days: rotate it"
    assert "Secret expires soon" in (await http.get(CLIENTS)).text

    clock.advance(14 * 24 * 3600)
    token = await sign_in(http, org.admin)
    assert text_of((await http.get(f"{CLIENTS}/{key}")).text, "secret-warning") == (
        "Expired: rotate it"
    )
    assert "Secret expired" in (await http.get(CLIENTS)).text

    bad = await rotate(http, key, token, "soon")
    assert bad.status_code == 400
    assert error_for(bad.text, "secretLifetimeSeconds") is not None
    rotated = await rotate(http, key, token, "0")
    assert rotated.status_code == 200, rotated.text
    assert (await api_client(http, org, key))["clientSecretExpiresAt"] is None
    assert text_of((await http.get(f"{CLIENTS}/{key}")).text, "secret-expires") == "never"

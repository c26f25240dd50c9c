"""private_key_jwt with keys the client hosts itself (``jwksUri``), fetched from a real HTTP
server on 127.0.0.1.

Covers: minting with a hosted key (and what the client's answer then shows); one fetch for many
tokens; ``Cache-Control: max-age`` honoured, within bounds at both ends (the runtime's clock is
moved, never slept on); a new ``kid`` after the client rotates its key fetched again, while a
flood of unknown ``kid``s fetches at most once per 10 s; a slow or a huge JWKS refused
promptly; and, without ``federation_allow_http``, a loopback ``jwksUri`` refused before any
request reaches it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, ISSUER, OrgFixture, create_client
from tests.support.fake_idp import (
    ClientKey,
    FakeIdP,
    Refusals,
    assertion,
    keyloft_claims,
    present,
    present_v3,
    read_client,
)
from tests.unit.fakes import FakeClock

PATH = "/clients/acme-payments/jwks.json"
PKJWT = "private_key_jwt"


def at(clock: FakeClock) -> float:
    """The runtime's now, in seconds: assertions are judged by its clock."""
    return clock.now().timestamp()


async def hosted_client(
    http: httpx.AsyncClient, org: OrgFixture, url: str, name: str = "hosted"
) -> dict[str, Any]:
    return await create_client(http, org, name=name, tokenEndpointAuthMethod=PKJWT, jwksUri=url)


async def mints(
    http: httpx.AsyncClient, client: dict[str, Any], signer: ClientKey, now: float | None = None
) -> str:
    key = client["clientKey"]
    answer = await present(http, assertion(key, signer, ISSUER, now=now), key)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


@pytest.fixture
def signer() -> ClientKey:
    return ClientKey.make("P-256")


async def test_a_hosted_key_mints_at_both_endpoints(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, signer: ClientKey, runtime: Runtime
) -> None:
    url = idp.host_jwks(PATH, [signer], cache_control="max-age=300")
    client = await hosted_client(http, org, url)
    assert "clientSecret" not in client
    shown = await read_client(http, org.auth, client["clientKey"])
    assert shown["tokenEndpointAuthMethod"] == PKJWT
    assert shown["jwksUri"] == url
    assert shown["jwks"] is None

    token = await mints(http, client, signer)
    claims = await keyloft_claims(http, token)
    assert claims["client_id"] == claims["sub"] == client["clientKey"]
    v3 = await present_v3(http, client["clientKey"], assertion(client["clientKey"], signer, ISSUER))
    assert v3.status_code == 200, v3.text
    assert idp.hits(PATH) >= 1

    await runtime.flush_usage()
    used = (await read_client(http, org.auth, client["clientKey"]))["lastUsedCredential"]
    assert used["type"] == "key"
    assert used["id"] == signer.thumbprint
    assert isinstance(used["at"], str)


async def test_one_fetch_serves_many_tokens(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, signer: ClientKey
) -> None:
    url = idp.host_jwks(PATH, [signer], cache_control="max-age=300")
    client = await hosted_client(http, org, url)
    before = idp.hits(PATH)
    await mints(http, client, signer)
    fetched = idp.hits(PATH)
    assert fetched - before <= 1
    assert fetched >= 1
    await asyncio.gather(*(mints(http, client, signer) for _ in range(10)))
    for _ in range(10):
        await mints(http, client, signer)
    assert idp.hits(PATH) == fetched


async def test_max_age_is_honoured(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, signer: ClientKey, clock: FakeClock
) -> None:
    url = idp.host_jwks(PATH, [signer], cache_control="public, max-age=300")
    client = await hosted_client(http, org, url)
    await mints(http, client, signer, at(clock))
    fetched = idp.hits(PATH)
    clock.advance(250)
    await mints(http, client, signer, at(clock))
    assert idp.hits(PATH) == fetched  # still fresh
    clock.advance(60)  # 310 s after the fetch
    await mints(http, client, signer, at(clock))
    assert idp.hits(PATH) == fetched + 1
    await mints(http, client, signer, at(clock))
    assert idp.hits(PATH) == fetched + 1


@pytest.mark.parametrize("cache_control", ["no-store", "max-age=0", "no-cache", "max-age=1"])
async def test_a_tiny_lifetime_is_raised_to_the_lower_bound(
    http: httpx.AsyncClient,
    org: OrgFixture,
    idp: FakeIdP,
    signer: ClientKey,
    clock: FakeClock,
    cache_control: str,
) -> None:
    url = idp.host_jwks(PATH, [signer], cache_control=cache_control)
    client = await hosted_client(http, org, url)
    await mints(http, client, signer, at(clock))
    fetched = idp.hits(PATH)
    for _ in range(5):
        clock.advance(2)
        await mints(http, client, signer, at(clock))
    assert idp.hits(PATH) == fetched


async def test_a_year_long_max_age_is_capped(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, signer: ClientKey, clock: FakeClock
) -> None:
    url = idp.host_jwks(PATH, [signer], cache_control="max-age=31536000")
    client = await hosted_client(http, org, url)
    await mints(http, client, signer, at(clock))
    fetched = idp.hits(PATH)
    clock.advance(8 * 24 * 3600)
    await mints(http, client, signer, at(clock))
    assert idp.hits(PATH) == fetched + 1


async def test_a_rotated_key_is_fetched_at_its_first_use(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, signer: ClientKey, clock: FakeClock
) -> None:
    url = idp.host_jwks(PATH, [signer], cache_control="max-age=3600")
    client = await hosted_client(http, org, url)
    await mints(http, client, signer, at(clock))
    fetched = idp.hits(PATH)
    rotated = ClientKey.make("P-256")
    idp.host_jwks(PATH, [rotated], cache_control="max-age=3600")
    clock.advance(1)
    await mints(http, client, rotated, at(clock))
    assert idp.hits(PATH) == fetched + 1
    await mints(http, client, rotated, at(clock))
    assert idp.hits(PATH) == fetched + 1


async def test_a_flood_of_unknown_kids_fetches_at_most_once_per_10_seconds(
    http: httpx.AsyncClient,
    org: OrgFixture,
    idp: FakeIdP,
    signer: ClientKey,
    clock: FakeClock,
    refusals: Refusals,
) -> None:
    url = idp.host_jwks(PATH, [signer], cache_control="max-age=3600")
    client = await hosted_client(http, org, url)
    key = client["clientKey"]
    await mints(http, client, signer, at(clock))
    fetched = idp.hits(PATH)
    stranger = ClientKey.make("P-256")

    def made_up() -> str:
        return assertion(key, stranger, ISSUER, kid=f"made-up-{uuid.uuid4().hex}", now=at(clock))

    answers = await asyncio.gather(*(present(http, made_up(), key) for _ in range(20)))
    for answer in answers:
        refusals.assert_oauth(answer)
    for _ in range(20):
        refusals.assert_oauth(await present(http, made_up(), key))
    clock.advance(5)
    for _ in range(10):
        refusals.assert_oauth(await present(http, made_up(), key))
    assert idp.hits(PATH) - fetched <= 1

    # 10 s on, one more fetch is allowed: it finds the client's real new key.
    clock.advance(6)
    rotated = ClientKey.make("P-256")
    idp.host_jwks(PATH, [signer, rotated], cache_control="max-age=3600")
    before = idp.hits(PATH)
    await mints(http, client, rotated, at(clock))
    assert idp.hits(PATH) == before + 1
    for _ in range(10):
        refusals.assert_oauth(await present(http, made_up(), key))
    assert idp.hits(PATH) == before + 1


async def test_a_slow_jwks_uri_is_refused_promptly(
    http: httpx.AsyncClient,
    org: OrgFixture,
    idp: FakeIdP,
    signer: ClientKey,
    refusals: Refusals,
) -> None:
    idp.host_jwks(PATH, [signer], cache_control="max-age=300")
    url = idp.slow(PATH, seconds=60)
    client = await hosted_client(http, org, url)
    key = client["clientKey"]
    started = time.monotonic()
    refusals.assert_oauth(await present(http, assertion(key, signer, ISSUER), key))
    elapsed = time.monotonic() - started
    assert elapsed < 8, elapsed
    assert idp.hits(PATH) >= 1  # it was asked, and did not answer in time


async def test_a_huge_jwks_is_refused(
    http: httpx.AsyncClient,
    org: OrgFixture,
    idp: FakeIdP,
    signer: ClientKey,
    refusals: Refusals,
) -> None:
    url = idp.huge(PATH, size=5 * 1024 * 1024)
    client = await hosted_client(http, org, url)
    key = client["clientKey"]
    started = time.monotonic()
    refusals.assert_oauth(await present(http, assertion(key, signer, ISSUER), key))
    refusals.assert_v3(await present_v3(http, key, assertion(key, signer, ISSUER)))
    assert time.monotonic() - started < 8
    assert idp.hits(PATH) >= 1
    # The same key, served at a normal size, works: the size was the reason.
    other = await hosted_client(http, org, idp.host_jwks("/small.json", [signer]), name="small")
    await mints(http, other, signer)


@pytest.fixture
async def strict(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A second node on the same store, without ``federation_allow_http``."""
    rt = await build_runtime(
        settings.model_copy(update={"federation_allow_http": False}), database=database
    )
    assert rt.settings.federation_allow_http is False
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime=rt)), base_url=BASE_URL
    )
    yield client
    await client.aclose()
    await rt.stop()  # the database fixture disposes the engine itself


async def test_without_allow_http_a_loopback_jwks_uri_is_never_requested(
    http: httpx.AsyncClient,
    org: OrgFixture,
    idp: FakeIdP,
    signer: ClientKey,
    strict: httpx.AsyncClient,
    refusals: Refusals,
) -> None:
    url = idp.host_jwks(PATH, [signer], cache_control="max-age=300")
    client = await hosted_client(http, org, url)
    key = client["clientKey"]
    idp.reset_hits()
    refusals.assert_oauth(await present(strict, assertion(key, signer, ISSUER), key))
    refusals.assert_v3(await present_v3(strict, key, assertion(key, signer, ISSUER)))
    assert idp.connections() == 0
    assert idp.total_hits() == 0
    # The node allowing it fetches the very same URI: the setting made the difference.
    await mints(http, client, signer)
    assert idp.hits(PATH) >= 1


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYLOFT_FEDERATION_ALLOW_HTTP", raising=False)
    assert Settings(_env_file=None).federation_allow_http is False
    monkeypatch.setenv("KEYLOFT_FEDERATION_ALLOW_HTTP", "true")
    assert Settings(_env_file=None).federation_allow_http is True

"""Secretless clients (RFC 7523): the node may fetch keys and metadata from http:// and
loopback servers (``federation_allow_http``), where the tests run their identity provider, and
the failure limits are out of reach, so that tests refusing many assertions from one client
and one address see each refusal for what it is rather than a 429."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from keyloft.config import Settings
from tests.support.api import ISSUER, SERVER_SECRET, OrgFixture, create_client
from tests.support.fake_idp import FakeIdP, Refusals, running_idp


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SERVER_SECRET,
        issuer=ISSUER,
        federation_allow_http=True,
        auth_failure_limit=100_000,
        auth_failure_ip_limit=100_000,
        _env_file=None,
    )


@pytest.fixture
def idp() -> Iterator[FakeIdP]:
    """An identity provider on 127.0.0.1, OpenID Connect discovery, RSA signing key."""
    with running_idp() as provider:
        yield provider


@pytest.fixture
async def refusals(http: httpx.AsyncClient, org: OrgFixture) -> Refusals:
    """How the node refuses a wrong secret: the one answer every refusal must equal."""
    baseline = await create_client(http, org, name="refusal-baseline")
    return await Refusals.learn(http, baseline)

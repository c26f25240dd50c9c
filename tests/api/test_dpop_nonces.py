"""DPoP server nonces (RFC 9449 §8) with ``KEYLOFT_DPOP_NONCE=required``: a proof without the
server's current nonce is answered ``use_dpop_nonce`` with one, the same proof with it is
accepted, and a made-up nonce is not."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from keyloft.config import Settings
from tests.api.test_dpop import ALL_READ, TOKEN_URL, Holder
from tests.support.api import ISSUER, SERVER_SECRET, OrgFixture, client_basic, create_client


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SERVER_SECRET,
        issuer=ISSUER,
        dpop_nonce="required",
        _env_file=None,
    )


async def test_with_nonces_required_a_proof_must_carry_the_servers(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    client: dict[str, Any] = await create_client(http, org, scopes=ALL_READ)
    holder = Holder()
    auth = client_basic(client["clientKey"], client["clientSecret"])
    form = {"grant_type": "client_credentials"}
    first = await http.post(
        "/oauth2/token", data=form, headers=auth | {"DPoP": holder.proof("POST", TOKEN_URL)}
    )
    assert first.status_code == 400
    assert first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    second = await http.post(
        "/oauth2/token",
        data=form,
        headers=auth | {"DPoP": holder.proof("POST", TOKEN_URL, nonce=nonce)},
    )
    assert second.status_code == 200, second.text
    assert second.headers["DPoP-Nonce"]
    wrong = await http.post(
        "/oauth2/token",
        data=form,
        headers=auth | {"DPoP": holder.proof("POST", TOKEN_URL, nonce=nonce[:-2] + "AA")},
    )
    assert wrong.json()["error"] == "use_dpop_nonce"

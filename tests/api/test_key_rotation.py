"""Signing-key rotation on a running node: a new key is in the JWKS before it signs, tokens
verify across the activation (JWKS + PyJWT, the decision point, introspection), a superseded
key leaves the JWKS when its tokens have expired, and retirement is guarded."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from keyloft.domain.errors import Conflict, NotFound
from keyloft.domain.signing import SigningKey
from keyloft.runtime import Runtime
from keyloft.services.clock import SystemClock
from keyloft.services.keys import (
    PUBLISH_LEEWAY,
    KeyStatus,
    list_signing_keys,
    retire_signing_key,
)
from keyloft.storage.store import Database
from tests.support.api import ISSUER, OPERATOR, OrgFixture, create_client, mint
from tests.support.keys import kid, rotate

JWKS = "/.well-known/jwks.json"
CHECK = "/v3/oauth/check"
INTROSPECT = "/oauth2/introspect"
DELAY = 300.0  # shorter than a token's life: tokens minted before it still verify after


async def retire(database: Database, kid: str) -> None:
    async with database.unit_of_work(write=True) as store:
        await retire_signing_key(store, kid, SystemClock().now(), operator=OPERATOR)
        assert store.changes.keys is True


async def statuses(runtime: Runtime, now: datetime) -> dict[str, KeyStatus]:
    async with runtime.database.unit_of_work(write=False) as store:
        found = await list_signing_keys(
            store, now, token_lifetime=runtime.settings.token_ttl_ceiling
        )
    return {status.kid: status for status in found}


class _At:
    def __init__(self, moment: Callable[[], datetime]) -> None:
        self.now = moment


async def ring_at(runtime: Runtime, moment: Callable[[], datetime]) -> None:
    """Move the node's one clock to ``moment`` (as after waiting) and reload its key ring:
    minting, verification and the key's phases all read that clock."""
    runtime.clock = _At(moment)
    await runtime.refresh()


async def published(http: httpx.AsyncClient) -> list[str]:
    answer = await http.get(JWKS)
    assert answer.status_code == 200
    return [key["kid"] for key in answer.json()["keys"]]


async def verifies_with_jwks(http: httpx.AsyncClient, token: str) -> bool:
    keys = jwt.PyJWKSet.from_dict((await http.get(JWKS)).json())
    kid = jwt.get_unverified_header(token)["kid"]
    matching = [key for key in keys.keys if key.key_id == kid]
    if not matching:
        return False
    # PyJWT reads the real clock, which the node's (moved by ``ring_at``) may run ahead of.
    claims = jwt.decode(
        token,
        matching[0].key,
        algorithms=["RS256"],
        issuer=ISSUER,
        leeway=DELAY,
        options={"verify_aud": False},
    )
    return bool(claims["jti"])


async def check_allows(http: httpx.AsyncClient, token: str) -> bool:
    body = {"token": token, "method": "GET", "path": "/v3/targetGroups/12"}
    answer = await http.post(CHECK, json=body)
    assert answer.status_code == 200, answer.text
    allowed: bool = answer.json()["data"]["allowed"]
    return allowed


async def introspect_active(http: httpx.AsyncClient, client: dict[str, Any], token: str) -> bool:
    raw = f"{client['clientKey']}:{client['clientSecret']}".encode()
    answer = await http.post(
        INTROSPECT,
        data={"token": token},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
    )
    assert answer.status_code == 200, answer.text
    active: bool = answer.json()["active"]
    return active


async def test_tokens_verify_across_a_rotation(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, signing_key: SigningKey
) -> None:
    client = await create_client(http, org)
    before = await mint(http, client["clientKey"], client["clientSecret"])
    new = await rotate(runtime, DELAY)
    assert await published(http) == [signing_key.kid]  # the node has not reloaded yet
    await runtime.refresh()
    assert await published(http) == [signing_key.kid, new.kid]
    pending = await mint(http, client["clientKey"], client["clientSecret"])
    assert kid(pending) == signing_key.kid  # published, but not signing yet

    activation = new.starts
    await ring_at(runtime, lambda: activation)
    after = await mint(http, client["clientKey"], client["clientSecret"])
    assert kid(after) == new.kid
    assert await published(http) == [signing_key.kid, new.kid]
    for token in (before, pending, after):
        assert await verifies_with_jwks(http, token)
        assert await check_allows(http, token)
        assert await introspect_active(http, client, token)

    window = timedelta(seconds=runtime.settings.token_ttl_ceiling + PUBLISH_LEEWAY)
    await ring_at(runtime, lambda: activation + window - timedelta(seconds=1))
    assert signing_key.kid in await published(http)
    await ring_at(runtime, lambda: activation + window)
    assert await published(http) == [new.kid]
    assert not await verifies_with_jwks(http, before)
    assert not await check_allows(http, before)
    later = await mint(http, client["clientKey"], client["clientSecret"])
    assert kid(later) == new.kid
    assert await check_allows(http, later)


async def test_list_shows_each_keys_phase(runtime: Runtime, signing_key: SigningKey) -> None:
    new = await rotate(runtime, DELAY)
    now = SystemClock().now()
    found = await statuses(runtime, now)
    assert (found[signing_key.kid].state, found[new.kid].state) == ("active", "pending")
    assert found[new.kid].published
    assert found[new.kid].activates == new.starts
    later = await statuses(runtime, new.starts)
    assert (later[signing_key.kid].state, later[new.kid].state) == ("superseded", "active")
    window = timedelta(seconds=runtime.settings.token_ttl_ceiling + PUBLISH_LEEWAY)
    assert later[signing_key.kid].published_until == new.starts + window


async def test_retiring_stops_signing_at_once_but_keeps_publishing(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, signing_key: SigningKey
) -> None:
    client = await create_client(http, org)
    new = await rotate(runtime, 0)
    await runtime.refresh()
    signed = await mint(http, client["clientKey"], client["clientSecret"])
    assert kid(signed) == new.kid
    await retire(runtime.database, new.kid)
    await runtime.refresh()
    again = await mint(http, client["clientKey"], client["clientSecret"])
    assert kid(again) == signing_key.kid
    assert set(await published(http)) == {signing_key.kid, new.kid}
    assert await verifies_with_jwks(http, signed)
    assert await check_allows(http, signed)
    found = await statuses(runtime, SystemClock().now())
    assert found[new.kid].state == "retired"
    assert found[signing_key.kid].state == "active"


async def test_the_last_key_able_to_sign_cannot_be_retired(
    runtime: Runtime, signing_key: SigningKey
) -> None:
    with pytest.raises(Conflict, match="no key able to sign now"):
        await retire(runtime.database, signing_key.kid)
    pending = await rotate(runtime, DELAY)
    with pytest.raises(Conflict, match="no key able to sign now"):
        await retire(runtime.database, signing_key.kid)
    await retire(runtime.database, pending.kid)  # cancelling a rotation is fine
    found = await statuses(runtime, SystemClock().now())
    assert found[pending.kid].state == "retired"
    assert not found[pending.kid].published  # it never signed anything
    with pytest.raises(Conflict, match="already retired"):
        await retire(runtime.database, pending.kid)
    with pytest.raises(NotFound):
        await retire(runtime.database, "no-such-kid")
    assert (await statuses(runtime, SystemClock().now()))[signing_key.kid].state == "active"

"""Reading a token against the client as it is now, on an in-memory node."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from keyloft.domain.errors import InvalidToken
from keyloft.domain.scopes import Grant, Permission
from keyloft.services.client_auth import ClientAuthRequest
from keyloft.services.token_inspection import TokenInspector, effective_grants
from keyloft.services.token_issuance import OAUTH2, V3, TokenIssuance, TokenRequest
from tests.unit.fake_node import SECRET, World, signing_key, world


@pytest.fixture
async def acme() -> World:
    return await world(signing_key())


async def v3_token(acme: World) -> str:
    asked = TokenRequest(ClientAuthRequest({"key": "key-1", "secret": SECRET}))
    return (await TokenIssuance(acme.node).issue(asked, V3)).access_token


async def oauth_token(acme: World) -> str:
    form = {"client_id": "key-1", "client_secret": SECRET}
    asked = TokenRequest(ClientAuthRequest(form), "client_credentials")
    return (await TokenIssuance(acme.node).issue(asked, OAUTH2)).access_token


async def inspect(acme: World, token: str) -> object:
    async with acme.node.transaction(write=False) as store:
        return await TokenInspector(acme.node).inspect(store, token)


async def test_both_kinds_of_token_are_read(acme: World) -> None:
    for token, typ in ((await v3_token(acme), "JWT"), (await oauth_token(acme), "at+jwt")):
        async with acme.node.transaction(write=False) as store:
            context = await TokenInspector(acme.node).inspect(store, token)
        assert context.typ == typ
        assert context.state.client.id == acme.client.id


async def test_a_changed_token_is_refused(acme: World) -> None:
    token = await v3_token(acme)
    head, body, signature = token.split(".")
    with pytest.raises(InvalidToken):
        await inspect(acme, f"{head}.{body}.{signature[::-1]}")
    with pytest.raises(InvalidToken):
        await inspect(acme, "")


async def test_an_expired_token_is_refused_even_once_verified(acme: World) -> None:
    token = await v3_token(acme)
    await inspect(acme, token)  # verified, and remembered
    acme.node.clock.advance(timedelta(minutes=11).total_seconds())
    with pytest.raises(InvalidToken):
        await inspect(acme, token)


async def test_a_revoked_token_is_refused(acme: World) -> None:
    token = await oauth_token(acme)
    async with acme.node.transaction(write=False) as store:
        context = await TokenInspector(acme.node).inspect(store, token)
        await store.revocations.add(str(context.claims["jti"]), 1, acme.node.clock.now())
    with pytest.raises(InvalidToken):
        await inspect(acme, token)


async def test_narrowing_the_client_narrows_its_tokens(acme: World) -> None:
    token = await v3_token(acme)
    store = acme.node.store
    client, secret_hash = store.clients.rows[acme.client.id]
    narrowed = (Grant(1, Permission.READ),)
    store.clients.rows[acme.client.id] = (dataclasses.replace(client, grants=narrowed), secret_hash)
    async with acme.node.transaction(write=False) as unit:
        context = await TokenInspector(acme.node).inspect(unit, token)
    assert context.grants == (Grant(1, Permission.READ, ()),)


def test_effective_grants_never_widen() -> None:
    token = (Grant(1, Permission.READ), Grant(2, Permission.READWRITE))
    now = (Grant(1, Permission.READWRITE), Grant(3, Permission.READ))
    assert effective_grants(token, now) == (Grant(1, Permission.READ),)


async def test_a_token_whose_subject_is_not_its_client_is_refused(acme: World) -> None:
    token = await v3_token(acme)
    store = acme.node.store
    client, secret_hash = store.clients.rows[acme.client.id]
    moved = dataclasses.replace(client, client_key="another-key")
    store.clients.rows[acme.client.id] = (moved, secret_hash)
    with pytest.raises(InvalidToken):
        await inspect(acme, token)

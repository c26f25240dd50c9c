"""Introspection (RFC 7662) and revocation (RFC 7009) of a client's own tokens."""

from __future__ import annotations

import dataclasses

import pytest

from keyloft.domain.oauth import InvalidClient, InvalidRequest
from keyloft.services.client_auth import ClientAuthRequest
from keyloft.services.introspection import Introspection
from keyloft.services.token_inspection import TokenInspector
from keyloft.services.token_issuance import OAUTH2, V3, TokenIssuance, TokenRequest
from tests.unit.fake_node import ISSUER, SECRET, World, signing_key, world


@pytest.fixture
async def acme() -> World:
    found = await world(signing_key())
    store, node = found.node.store, found.node
    other = dataclasses.replace(found.client, id=2, client_key="key-2", name="other")
    store.clients.rows[2] = (other, node.hasher.hash("other-secret"))
    return found


def caller(key: str = "key-1", secret: str = SECRET) -> ClientAuthRequest:
    return ClientAuthRequest({"client_id": key, "client_secret": secret})


async def token_of(acme: World, key: str, secret: str, *, v3: bool = False) -> str:
    client = ClientAuthRequest({"key": key, "secret": secret})
    if v3:
        return (await TokenIssuance(acme.node).issue(TokenRequest(client), V3)).access_token
    asked = TokenRequest(caller(key, secret), "client_credentials", "TargetGroups:read")
    return (await TokenIssuance(acme.node).issue(asked, OAUTH2)).access_token


def introspection(acme: World) -> Introspection:
    return Introspection(acme.node, TokenInspector(acme.node))


async def test_an_own_live_token_is_active_with_its_claims(acme: World) -> None:
    token = await token_of(acme, "key-1", SECRET)
    answer = await introspection(acme).introspect(caller(), token)
    assert answer["active"] is True
    assert (answer["client_id"], answer["scope"], answer["iss"]) == (
        "key-1",
        "TargetGroups:read",
        ISSUER,
    )
    assert answer["token_type"] == "Bearer"
    assert "aud" in answer
    v3_answer = await introspection(acme).introspect(
        caller(), await token_of(acme, "key-1", SECRET, v3=True)
    )
    assert v3_answer["active"] is True
    assert "aud" not in v3_answer


async def test_another_clients_token_says_only_inactive(acme: World) -> None:
    theirs = await token_of(acme, "key-2", "other-secret")
    assert await introspection(acme).introspect(caller(), theirs) == {"active": False}
    assert await introspection(acme).introspect(caller(), "not.a.token") == {"active": False}


async def test_the_caller_is_authenticated_before_the_token_is_asked_for(acme: World) -> None:
    with pytest.raises(InvalidClient) as refused:
        await introspection(acme).introspect(caller(secret="wrong"), None)
    assert refused.value.error == "invalid_client"
    with pytest.raises(InvalidRequest, match="token is required"):
        await introspection(acme).introspect(caller(), "")
    with pytest.raises(InvalidRequest, match="token is required"):
        await introspection(acme).revoke(caller(), None)


async def test_revoking_an_own_token_ends_it_and_announces_it(acme: World) -> None:
    token = await token_of(acme, "key-1", SECRET)
    assert await introspection(acme).revoke(caller(), token) is True
    assert len(acme.node.store.revocations.rows) == 1
    assert list(acme.node.store.changes.revoked) == list(acme.node.store.revocations.rows)
    assert await introspection(acme).introspect(caller(), token) == {"active": False}
    assert acme.node.units[-2] is True  # the revocation ran in a write unit of work


async def test_another_clients_token_is_quietly_not_revoked(acme: World) -> None:
    theirs = await token_of(acme, "key-2", "other-secret")
    assert await introspection(acme).revoke(caller(), theirs) is False
    assert await introspection(acme).revoke(caller(), "garbage") is False
    assert acme.node.store.revocations.rows == {}
    mine = ClientAuthRequest({"client_id": "key-2", "client_secret": "other-secret"})
    assert (await introspection(acme).introspect(mine, theirs))["active"] is True

"""The decision point on an in-memory node: allowed, refused, and what a refusal names."""

from __future__ import annotations

import dataclasses

import pytest

from keyloft.services.client_auth import ClientAuthRequest
from keyloft.services.decisions import DecisionPoint
from keyloft.services.token_inspection import TokenInspector
from keyloft.services.token_issuance import V3, TokenIssuance, TokenRequest
from tests.unit.fake_node import SECRET, World, signing_key, world


@pytest.fixture
async def acme() -> World:
    return await world(signing_key())


async def token(acme: World) -> str:
    asked = TokenRequest(ClientAuthRequest({"key": "key-1", "secret": SECRET}))
    return (await TokenIssuance(acme.node).issue(asked, V3)).access_token


def point(acme: World) -> DecisionPoint:
    return DecisionPoint(acme.node, TokenInspector(acme.node))


async def test_a_granted_call_is_allowed_as_the_default_till(acme: World) -> None:
    decided = await point(acme).decide(await token(acme), "GET", "/v3/targetGroups/7")
    assert decided.allowed is True
    assert (decided.client_key, decided.org_id, decided.till_id) == (
        "key-1",
        acme.org.id,
        acme.till.id,
    )


async def test_a_call_outside_the_grants_is_refused_with_its_reason(acme: World) -> None:
    decided = await point(acme).decide(await token(acme), "POST", "/v3/transactions/1")
    assert decided.allowed is False
    assert decided.reason != "invalid_token"
    assert decided.client_key == "key-1"


async def test_a_bad_token_names_nobody(acme: World) -> None:
    decided = await point(acme).decide("a.b.c", "GET", "/v3/targetGroups/7")
    assert (decided.allowed, decided.reason) == (False, "invalid_token")
    assert (decided.client_key, decided.org_id, decided.till_id) == (None, None, None)


async def test_a_deleted_clients_tokens_stop_at_once(acme: World) -> None:
    issued = await token(acme)
    store = acme.node.store
    client, secret_hash = store.clients.rows[acme.client.id]
    store.clients.rows[acme.client.id] = (dataclasses.replace(client, is_valid=False), secret_hash)
    decided = await point(acme).decide(issued, "GET", "/v3/targetGroups/7")
    assert (decided.allowed, decided.reason, decided.client_key) == (False, "invalid_token", None)


async def test_the_attribution_chooses_a_till_of_the_same_org(acme: World) -> None:
    issued = await token(acme)
    other = await point(acme).decide(
        issued, "GET", "/v3/targetGroups/7", till_type="till", till_code="till.2"
    )
    assert (other.allowed, other.till_id) == (True, acme.other_till.id)
    for till_type, till_code in (("TILL", "no-such-till"), ("STORE", "till.2"), (None, "till.2")):
        refused = await point(acme).decide(
            issued, "GET", "/v3/targetGroups/7", till_type=till_type, till_code=till_code
        )
        assert (refused.allowed, refused.reason, refused.till_id) == (False, "unknown_till", None)

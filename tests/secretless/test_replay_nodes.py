"""A private_key_jwt assertion is single-use across a deployment: two nodes, each with its own
engine, on one database, without Redis (the used ``jti``s are kept in the store) and with Redis
(kept there). The same assertion is accepted by one node and refused by the other, in either
order, at either token endpoint, and when both nodes receive it at once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from keyloft.config import Settings
from keyloft.storage.store import Database
from tests.support.api import ISSUER, OrgFixture, create_client, make_org
from tests.support.fake_idp import (
    ClientKey,
    Refusals,
    assertion,
    jwks,
    present,
    present_v3,
)
from tests.support.two_nodes import Nodes, two_nodes


@pytest.fixture(
    params=[
        pytest.param("store", id="store"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
async def nodes(
    request: pytest.FixtureRequest, settings: Settings, database: Database
) -> AsyncIterator[Nodes]:
    """Nodes A and B, each with its own engine, on the store ``database`` prepared; sharing
    a Redis server too in the "redis" variant."""
    async with two_nodes(settings, request.param) as (pair, _runtimes):
        yield pair


@pytest.fixture
async def keyed(nodes: Nodes, database: Database) -> tuple[OrgFixture, dict[str, Any], ClientKey]:
    org = await make_org(database, "Replayers")
    signer = ClientKey.make("P-256")
    client = await create_client(
        nodes[0], org, tokenEndpointAuthMethod="private_key_jwt", jwks=jwks(signer)
    )
    return org, client, signer


@pytest.fixture
async def refusals(nodes: Nodes, keyed: tuple[OrgFixture, dict[str, Any], ClientKey]) -> Refusals:
    baseline = await create_client(nodes[0], keyed[0], name="refusal-baseline")
    return await Refusals.learn(nodes[0], baseline)


async def test_accepted_once_then_refused_on_the_other_node(
    nodes: Nodes, keyed: tuple[OrgFixture, dict[str, Any], ClientKey], refusals: Refusals
) -> None:
    node_a, node_b = nodes
    _, client, signer = keyed
    key = client["clientKey"]

    once = assertion(key, signer, ISSUER)
    first = await present(node_a, once, key)
    assert first.status_code == 200, first.text
    refusals.assert_oauth(await present(node_b, once, key))
    refusals.assert_v3(await present_v3(node_b, key, once))
    refusals.assert_oauth(await present(node_a, once, key))

    # The other way round, and through the v3 call.
    again = assertion(key, signer, ISSUER)
    v3 = await present_v3(node_b, key, again)
    assert v3.status_code == 200, v3.text
    refusals.assert_oauth(await present(node_a, again, key))
    refusals.assert_v3(await present_v3(node_a, key, again))


async def test_presented_to_both_nodes_at_once_one_wins(
    nodes: Nodes, keyed: tuple[OrgFixture, dict[str, Any], ClientKey], refusals: Refusals
) -> None:
    node_a, node_b = nodes
    _, client, signer = keyed
    key = client["clientKey"]
    # Each node has read the client once, so the race is about the assertion only.
    for http in nodes:
        warm = await present(http, assertion(key, signer, ISSUER), key)
        assert warm.status_code == 200, warm.text

    once = assertion(key, signer, ISSUER)
    answers = await asyncio.gather(
        *(present(nodes[n % 2], once, key) for n in range(8)),
    )
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: 1, 401: 7}, [answer.text for answer in answers]
    for answer in answers:
        if answer.status_code == 401:
            refusals.assert_oauth(answer)
    assert node_a is not node_b

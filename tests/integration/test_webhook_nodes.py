"""Webhook delivery on a deployment of two nodes sharing one store (SQLite and PostgreSQL):
the lease lets only one node send each attempt, however the nodes' passes interleave; and a
receiver that fails, then hangs while the node sending to it is killed, then recovers, still
gets the message, from the other node once the dead node's lease has run out — at least once,
nothing lost, every copy signed."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from keyloft.config import Settings
from keyloft.runtime import Runtime
from keyloft.services.webhook_delivery import LEASE_SECONDS
from keyloft.storage.store import Database
from tests.support.api import create_client, make_org
from tests.support.two_nodes import Nodes, two_nodes
from tests.support.waiting import eventually
from tests.support.webhooks import Receiver, create_webhook, deliveries
from tests.unit.fakes import FakeClock

STORES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhooks_allow_http": True, "webhooks_poll_seconds": 300})


@pytest.fixture
async def pair(
    settings: Settings, database: Database
) -> AsyncIterator[tuple[Nodes, list[Runtime]]]:
    async with two_nodes(settings, "store") as made:
        yield made


@pytest.mark.parametrize("database_url", STORES, indirect=True)
async def test_two_nodes_never_send_the_same_attempt(
    pair: tuple[Nodes, list[Runtime]], database: Database
) -> None:
    (a, b), runtimes = pair
    org = await make_org(database, "Hooks")
    with Receiver() as receiver:
        hook = await create_webhook(a, org, receiver.url)
        for n in range(12):
            await create_client(b if n % 2 else a, org, name=f"client-{n}")
        for rt in runtimes:
            rt.deliveries.batch = 2  # many small claims, so the nodes' passes interleave
        sent = [0, 0]
        for _ in range(20):
            counts = await asyncio.gather(*(rt.deliver_webhooks() for rt in runtimes))
            sent = [s + c for s, c in zip(sent, counts, strict=True)]
            if sum(counts) == 0:
                break
        seen = Counter(receiver.ids())
        assert len(seen) == 12
        assert set(seen.values()) == {1}, seen  # each message sent exactly once
        assert sum(sent) == 12
        assert all(sent), sent  # both nodes took part
        log = await deliveries(b, org, hook["id"])
        assert [item["status"] for item in log] == ["delivered"] * 12
        assert {item["attempts"] for item in log} == {1}
        assert {item["messageId"] for item in log} == set(seen)


@pytest.mark.parametrize("database_url", STORES, indirect=True)
async def test_a_node_killed_mid_delivery_loses_nothing(
    pair: tuple[Nodes, list[Runtime]], database: Database
) -> None:
    (a, b), (node_a, node_b) = pair
    start = datetime.now(UTC)
    clock_a, clock_b = FakeClock(start), FakeClock(start)
    node_a.clock, node_b.clock = clock_a, clock_b
    org = await make_org(database, "Faults")
    with Receiver(["fail", "hang"]) as receiver:
        hook = await create_webhook(a, org, receiver.url)
        await create_client(a, org)
        # Attempt 1, node A: the receiver fails.
        assert await node_a.deliver_webhooks() == 1
        [failed] = await deliveries(b, org, hook["id"])
        assert failed["status"] == "pending"
        assert failed["lastStatusCode"] == 500
        clock_a.advance(40)
        clock_b.advance(40)
        # Attempt 2, node A: the receiver hangs, and node A dies mid-request.
        sending = asyncio.create_task(node_a.deliver_webhooks())
        await eventually(receiver.hanging.is_set)
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        # Node B may not send that attempt while node A's lease holds it ...
        assert await node_b.deliver_webhooks() == 0
        clock_b.advance(LEASE_SECONDS - 1)
        assert await node_b.deliver_webhooks() == 0
        # ... and sends it once the lease has run out: attempt 3, the receiver recovered.
        clock_b.advance(2)
        assert await node_b.deliver_webhooks() == 1
        [done] = await deliveries(a, org, hook["id"])
        assert done["status"] == "delivered"
        assert done["attempts"] == 3
        assert done["lastStatusCode"] == 204
        assert await node_a.deliver_webhooks() == 0
        assert await node_b.deliver_webhooks() == 0
        messages = receiver.messages
        assert len(messages) == 3
        assert {m.headers["webhook-id"] for m in messages} == {done["messageId"]}
        for message in messages:
            body = Webhook(hook["secret"]).verify(message.body, message.headers)
            assert body["type"] == "client.created"

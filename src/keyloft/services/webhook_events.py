"""Webhook events raised by something other than an audited change: a client secret nearing
its expiry (found by a periodic scan on every node, each event queued once per webhook whichever
node finds it first), and a client going beyond its mint limit (written with the batch that
records it). Events of audited changes are raised by ``ClientService._record``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from keyloft.domain.webhooks import EXPIRY_WARNINGS, expiry_event, mint_limit_event
from keyloft.services.ports import Store


async def raise_expiring_secrets(store: Store, now: datetime) -> int:
    """Queue ``client.secret.expiring`` for each secret within a warning of its expiry that
    has not had that warning yet; how many messages."""
    queued = 0
    for secret in await store.webhooks.expiring_secrets(now, now + max(EXPIRY_WARNINGS)):
        due = expiry_event(secret, now)
        if due is not None:
            event, key = due
            queued += await store.webhooks.enqueue(secret.org_id, event, now, dedupe=key)
    return queued


async def raise_mint_limit_events(store: Store, hits: Mapping[int, datetime]) -> int:
    """Queue ``client.mint_limit.reached`` for each client of ``hits`` (client id -> when it
    went beyond its limit) that had not in the hour before; call it before those hits are
    recorded, in the same unit of work. How many messages."""
    queued = 0
    for client_id, hit in hits.items():
        found = await store.clients.credentials_by_id(client_id)
        if found is None:
            continue
        client = found[0]
        event = mint_limit_event(client, client.mint_limit_hit_on, hit)
        if event is not None:
            queued += await store.webhooks.enqueue(client.org_id, event, hit)
    return queued

"""Reading usage counts: one client's, or an org's totals and top clients, by hour or by day
(in the org's time zone), for the management API and the console. Always within the
caller's org: another org's client is not found, exactly like a key that does not exist.

Counts are those written by the nodes' usage flushes (``Runtime.flush_usage``), so they lag
by at most ``KEYLOFT_USAGE_FLUSH_SECONDS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from keyloft.domain.actors import Actor
from keyloft.domain.clients import Client
from keyloft.domain.orgs import Org
from keyloft.domain.usage import DAY, HOUR, Bucket, UsageRange, usage_range
from keyloft.services.clients import ClientService
from keyloft.services.node import Node
from keyloft.services.ports import Store

TOP_CLIENTS = 10


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """As sent: ``since``/``until`` ISO 8601 (None: the default range), ``interval``
    ``hour`` or ``day`` (None: hour)."""

    since: str | None = None
    until: str | None = None
    interval: str | None = None


@dataclass(frozen=True, slots=True)
class ClientUsage:
    client: Client
    org: Org
    range: UsageRange
    buckets: list[Bucket]


@dataclass(frozen=True, slots=True)
class TopClient:
    client: Client
    totals: dict[str, int]
    """Per metric (``keyloft.domain.usage.METRICS``), over the whole range."""


@dataclass(frozen=True, slots=True)
class OrgUsage:
    org: Org
    range: UsageRange
    totals: list[Bucket]
    top: list[TopClient]


PAGE_INTERVALS = (HOUR, DAY)
"""A client's console page: the last 7 days by hour and the last 90 by day."""


async def page_usage(
    store: Store, client: Client, org: Org, now: datetime
) -> tuple[tuple[str, list[Bucket]], ...]:
    """A client's page's usage, per interval of ``PAGE_INTERVALS`` (their default ranges),
    read in the page's own unit of work."""
    found: list[tuple[str, list[Bucket]]] = []
    for interval in PAGE_INTERVALS:
        wanted = usage_range(None, None, interval, timezone=org.timezone, now=now)
        rows = await store.usage.client_hours(client.id, wanted.start, wanted.end)
        found.append((interval, wanted.buckets(rows)))
    return tuple(found)


class UsageReports:
    def __init__(self, node: Node) -> None:
        self._node = node

    async def client(self, actor: Actor, client_key: str, query: UsageQuery) -> ClientUsage:
        async with self._node.transaction(write=False) as store:
            clients = ClientService.of(self._node, store)
            client, org = await clients.read(actor, client_key)
            wanted = self._range(query, org)
            rows = await store.usage.client_hours(client.id, wanted.start, wanted.end)
        return ClientUsage(client, org, wanted, wanted.buckets(rows))

    async def org(self, actor: Actor, query: UsageQuery, *, top: int = TOP_CLIENTS) -> OrgUsage:
        async with self._node.transaction(write=False) as store:
            return await self._org(store, actor, query, top)

    async def _org(self, store: Store, actor: Actor, query: UsageQuery, top: int) -> OrgUsage:
        org = await ClientService.of(self._node, store).org(actor)
        wanted = self._range(query, org)
        rows = await store.usage.org_hours(org.id, wanted.start, wanted.end)
        ranked = await store.usage.top_clients(org.id, wanted.start, wanted.end, limit=top)
        found: list[TopClient] = []
        for client_id, totals in ranked:
            held = await store.clients.credentials_by_id(client_id)
            if held is not None and held[0].org_id == org.id:
                found.append(TopClient(held[0], totals))
        return OrgUsage(org, wanted, wanted.buckets(rows), found)

    async def overview(self, actor: Actor) -> Overview:
        """The org's overview page, in one unit of work."""
        now = self._node.clock.now()
        since = (now - timedelta(days=OVERVIEW_DAYS)).isoformat()
        async with self._node.transaction(write=False) as store:
            clients = ClientService.of(self._node, store)
            every = await clients.list(actor, include_invalid=False)
            usage = await self._org(store, actor, UsageQuery(since, None, DAY), TOP_CLIENTS)
        return overview_of(usage, list(every), now)

    def _range(self, query: UsageQuery, org: Org) -> UsageRange:
        return usage_range(
            query.since,
            query.until,
            query.interval,
            timezone=org.timezone,
            now=self._node.clock.now(),
        )


OVERVIEW_DAYS = 30
"""The overview's window: its chart and top clients, "unused", secrets expiring soon and
mint limits hit."""


@dataclass(frozen=True, slots=True)
class Overview:
    """An org's console overview: the last 30 days by day with the top clients, and its
    valid clients that need a look."""

    usage: OrgUsage
    never_used: list[Client]
    unused: list[Client]
    """Last used more than 30 days ago, longest unused first."""
    secrets_expiring: list[Client]
    """Secrets that expire within 30 days, or have expired; soonest first."""
    mint_limit_hit: list[Client]
    """Went beyond their mint limit in the last 30 days; latest first."""


def overview_of(usage: OrgUsage, clients: list[Client], now: datetime) -> Overview:
    since = now - timedelta(days=OVERVIEW_DAYS)
    soon = now + timedelta(days=OVERVIEW_DAYS)
    valid = [client for client in clients if client.is_valid]
    never = [client for client in valid if client.last_used_on is None]
    unused = sorted(
        (c for c in valid if c.last_used_on is not None and c.last_used_on < since),
        key=lambda c: c.last_used_on or now,
    )
    expiring = sorted(
        (c for c in valid if c.secret_expires_at is not None and c.secret_expires_at <= soon),
        key=lambda c: c.secret_expires_at or now,
    )
    hit = sorted(
        (c for c in valid if c.mint_limit_hit_on is not None and c.mint_limit_hit_on >= since),
        key=lambda c: c.mint_limit_hit_on or now,
        reverse=True,
    )
    return Overview(usage, never, unused, expiring, hit)

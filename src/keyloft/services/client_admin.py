"""An org's API clients as the management API, the console and the audit reader use them:
one method per use case, each in one unit of work (a write transaction for changes), each
answering what its caller renders (the client with its org, whose zone dates are shown in).

The rules themselves live in ``ClientService``, which works inside one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from keyloft.domain.actors import Actor
from keyloft.domain.audit import RequestContext
from keyloft.domain.clients import Client
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import ScopeEntity
from keyloft.services.audit import AuditPage, AuditService
from keyloft.services.client_requests import ClientRequest
from keyloft.services.clients import ClientList, ClientService
from keyloft.services.node import Node


@dataclass(frozen=True, slots=True)
class ClientAnswer:
    client: Client
    org: Org
    secret: str | None = None
    """Only in the answer that creates it (create, rotation): never available again."""
    uses: Mapping[str, datetime] = field(default_factory=dict)
    """When each of its keys and federated credentials last minted a token (detail answers)."""


@dataclass(frozen=True, slots=True)
class ClientListAnswer:
    found: ClientList
    org: Org


@dataclass(frozen=True, slots=True)
class ClientFilter:
    """Which clients to list: ``name`` (any case); ``limit``/``cursor`` make it one page."""

    include_invalid: bool = False
    name: str | None = None
    cursor: str | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    client_key: str | None = None
    actor_code: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class AuditAnswer:
    page: AuditPage
    org: Org


class ClientAdministration:
    def __init__(self, node: Node) -> None:
        self._node = node

    async def scopes(self, actor: Actor) -> list[ScopeEntity]:
        async with self._node.transaction(write=False) as store:
            clients = ClientService.of(self._node, store)
            return await clients.scopes(actor)

    async def list(self, actor: Actor, which: ClientFilter) -> ClientListAnswer:
        async with self._node.transaction(write=False) as store:
            clients = ClientService.of(self._node, store)
            found = await clients.page(
                actor,
                include_invalid=which.include_invalid,
                name=which.name,
                cursor=which.cursor,
                limit=which.limit,
            )
            # After the page, which may have brought the org to the node's cache.
            return ClientListAnswer(found, await clients.org(actor))

    async def read(self, actor: Actor, client_key: str) -> ClientAnswer:
        """A client with its scopes; deleted clients stay readable."""
        async with self._node.transaction(write=False) as store:
            clients = ClientService.of(self._node, store)
            client, org = await clients.read(actor, client_key)
            uses = await clients.credential_uses(client)
        return ClientAnswer(client, org, uses=uses)

    async def create(
        self, actor: Actor, request: ClientRequest, context: RequestContext
    ) -> ClientAnswer:
        async with self._node.transaction(write=True) as store:
            clients = ClientService.of(self._node, store, context)
            client, secret = await clients.create(actor, request)
            return ClientAnswer(client, await clients.org(actor), secret)

    async def update(
        self,
        actor: Actor,
        client_key: str,
        request: ClientRequest,
        context: RequestContext,
        *,
        if_match: str | None = None,
    ) -> ClientAnswer:
        async with self._node.transaction(write=True) as store:
            clients = ClientService.of(self._node, store, context)
            client, secret = await clients.update(actor, client_key, request, if_match=if_match)
            uses = await clients.credential_uses(client)
            return ClientAnswer(client, await clients.org(actor), secret, uses)

    async def delete(
        self, actor: Actor, client_key: str, context: RequestContext, *, if_match: str | None = None
    ) -> ClientAnswer:
        async with self._node.transaction(write=True) as store:
            clients = ClientService.of(self._node, store, context)
            client = await clients.delete(actor, client_key, if_match=if_match)
            return ClientAnswer(client, await clients.org(actor))

    async def rotate_secret(
        self,
        actor: Actor,
        client_key: str,
        context: RequestContext,
        *,
        grace_seconds: int = 0,
        if_match: str | None = None,
        secret_lifetime: int | None = None,
    ) -> ClientAnswer:
        async with self._node.transaction(write=True) as store:
            clients = ClientService.of(self._node, store, context)
            client, secret = await clients.rotate_secret(
                actor,
                client_key,
                grace_seconds=grace_seconds,
                if_match=if_match,
                secret_lifetime=secret_lifetime,
            )
            return ClientAnswer(client, await clients.org(actor), secret)

    async def end_grace(
        self, actor: Actor, client_key: str, context: RequestContext, *, if_match: str | None = None
    ) -> ClientAnswer:
        async with self._node.transaction(write=True) as store:
            clients = ClientService.of(self._node, store, context)
            client = await clients.end_grace(actor, client_key, if_match=if_match)
            return ClientAnswer(client, await clients.org(actor))

    async def audit(self, actor: Actor, which: AuditFilter) -> AuditAnswer:
        """The org's audit trail, newest first, with the org whose zone it is shown in."""
        async with self._node.transaction(write=False) as store:
            page = await AuditService(store).find(
                actor.org_id,
                client_key=which.client_key,
                actor_code=which.actor_code,
                action=which.action,
                since=which.since,
                until=which.until,
                cursor=which.cursor,
                limit=which.limit,
            )
            return AuditAnswer(page, await ClientService.of(self._node, store).org(actor))

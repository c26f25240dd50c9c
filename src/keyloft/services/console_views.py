"""The admin console's pages as use cases: each method answers everything one page shows,
read (and for a form's POST, changed) in one unit of work, sealed to the actor's org.

A change the rules refuse (a taken name, a stale version...) answers the page to show again,
read in the same unit of work just before the change was tried: the refusal rolls the change
back, so what was read is what stands. The rules themselves live in ``ClientService``.

A change of a client's credentials (its method, keys, key set URL, federated credentials), or
of whether its tokens must be DPoP-bound or bound to its TLS certificate, is an update that
keeps everything else as the client holds it, so it is checked, stored and audited like any
other ``client.update``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from keyloft.domain.actors import Actor, Principal, PrincipalKind
from keyloft.domain.audit import AuditEvent, RequestContext
from keyloft.domain.clients import Client, ScopeInput, if_match_allows
from keyloft.domain.errors import (
    ClientNotFound,
    KeyloftError,
    ValidationFailed,
    VersionMismatch,
)
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import ScopeEntity
from keyloft.domain.usage import Bucket
from keyloft.services.audit import AuditService
from keyloft.services.callers import BasicLogin, CallerAuthentication
from keyloft.services.client_admin import ClientAnswer
from keyloft.services.client_requests import ClientRequest, CredentialRequest
from keyloft.services.clients import ClientService
from keyloft.services.node import Node
from keyloft.services.ports import Store
from keyloft.services.usage_reports import page_usage

HISTORY = 10  # audit events shown on a client's page, newest first
DPOP_BOUND = "dpopBoundAccessTokens"
"""The field of RFC 9449's flag, as the API names it: every token request needs a DPoP proof."""
CERTIFICATE_BOUND = "tlsClientCertificateBoundAccessTokens"
"""The field of RFC 8705's flag, as the API names it: its tokens are bound to the TLS
certificate they were requested with."""

ReadRequest = Callable[[list[int]], ClientRequest]
"""Reads the change a form asks for, given the ids of the org's scope entities (the form has
fields for each); raises ``KeyloftError`` for input it cannot read."""

ReadCredentials = Callable[[Client], CredentialRequest]
"""Reads the change of credentials a form asks for, given the client as it stands (a form adds
to or removes from what it holds); raises ``KeyloftError`` for input it cannot read."""


@dataclass(frozen=True, slots=True)
class ClientsView:
    """The org's clients matching the page's filter, out of ``total``."""

    org: Org
    clients: list[Client]
    total: int
    entities: list[ScopeEntity]
    tills: list[Principal]


@dataclass(frozen=True, slots=True)
class FormChoices:
    """What the create form offers: the org's scope entities and Tills, and the Till it
    starts with (the signed-in Till, or the org's only one)."""

    org: Org
    entities: list[ScopeEntity]
    tills: list[Principal]
    first_till: int | None


@dataclass(frozen=True, slots=True)
class ClientView:
    """A client's page: the client, what its edit form offers, its latest changes, and when
    each of its keys and federated credentials last minted a token (``key:<thumbprint>``,
    ``federated:<rule name>``)."""

    org: Org
    client: Client
    entities: list[ScopeEntity]
    tills: list[Principal]
    history: list[AuditEvent]
    uses: Mapping[str, datetime] = field(default_factory=dict)
    usage: tuple[tuple[str, list[Bucket]], ...] = ()
    """Its usage per interval (``usage_reports.page_usage``); empty after a refused change."""


@dataclass(frozen=True, slots=True)
class NoSuchClient:
    org: Org
    message: str


@dataclass(frozen=True, slots=True)
class NotCreated:
    """The create form again, with why the rules refused it."""

    choices: FormChoices
    error: KeyloftError


@dataclass(frozen=True, slots=True)
class NotChanged:
    """The client's page again, with why the rules refused the change."""

    page: ClientView
    error: KeyloftError


ClientChange = Callable[[ClientService, ClientView], Awaitable[tuple[Client, str | None]]]
"""A change to the client of a page read just before: the client and its new secret, if any."""


class ConsoleViews:
    def __init__(self, node: Node, callers: CallerAuthentication) -> None:
        self._node = node
        self._callers = callers

    @asynccontextmanager
    async def _unit(
        self, context: RequestContext | None, *, write: bool
    ) -> AsyncIterator[tuple[ClientService, Store]]:
        async with self._node.transaction(write=write) as store:
            yield ClientService.of(self._node, store, context), store

    async def sign_in(
        self, login: BasicLogin, fingerprint: Callable[[str], str]
    ) -> tuple[Principal, str] | None:
        """The principal whose password ``login`` proves, with the ``fingerprint`` of its
        password hash a new session carries; None when it went away between the two reads."""
        actor = await self._callers.basic(login)
        found = await self._callers.principal_for_session(
            login.username, fingerprint, expected=None
        )
        return None if found is None else (actor.principal, found[1])

    async def clients_page(self, actor: Actor, *, deleted: bool, text: str) -> ClientsView:
        """The org's clients (with ``deleted`` the deleted ones too) whose name, key or
        description holds ``text``, ignoring case."""
        async with self._unit(None, write=False) as (clients, _):
            every = await clients.list(actor, include_invalid=deleted)
            entities = await clients.scopes(actor)
            tills = await clients.tills(actor)
            # After the list, which may have brought the org to the node's cache.
            org = await clients.org(actor)
        shown = [client for client in every if not text or _matches(client, text)]
        return ClientsView(org, shown, len(every), entities, tills)

    async def new_client_form(self, actor: Actor) -> FormChoices:
        async with self._unit(None, write=False) as (clients, _):
            return await _choices(clients, actor)

    async def create_client(
        self, actor: Actor, read_request: ReadRequest, context: RequestContext
    ) -> ClientAnswer | NotCreated:
        choices: FormChoices | None = None
        try:
            async with self._unit(context, write=True) as (clients, _):
                choices = await _choices(clients, actor)
                request = read_request([entity.id for entity in choices.entities])
                client, secret = await clients.create(actor, request)
                return ClientAnswer(client, choices.org, secret)
        except KeyloftError as error:
            if choices is None:
                raise
            return NotCreated(choices, error)

    async def client_page(self, actor: Actor, client_key: str) -> ClientView | NoSuchClient:
        async with self._unit(None, write=False) as (clients, store):
            found = await _client_view(clients, store, actor, client_key)
            if isinstance(found, NoSuchClient):
                return found
            now = self._node.clock.now()
            return replace(found, usage=await page_usage(store, found.client, found.org, now))

    async def deletion_page(self, actor: Actor, client_key: str) -> ClientAnswer | NoSuchClient:
        async with self._unit(None, write=False) as (clients, _):
            org = await clients.org(actor)
            try:
                return ClientAnswer(await clients.get(actor, client_key), org)
            except ClientNotFound as missing:
                return NoSuchClient(org, missing.message)

    async def update_client(
        self,
        actor: Actor,
        client_key: str,
        read_request: ReadRequest,
        context: RequestContext,
        *,
        if_match: str | None,
    ) -> ClientAnswer | NotChanged | NoSuchClient:
        async def update(clients: ClientService, page: ClientView) -> tuple[Client, str | None]:
            request = read_request([entity.id for entity in page.entities])
            return await clients.update(actor, client_key, request, if_match=if_match)

        return await self._change(actor, client_key, context, update)

    async def change_credentials(
        self,
        actor: Actor,
        client_key: str,
        read_change: ReadCredentials,
        context: RequestContext,
        *,
        if_match: str | None,
    ) -> ClientAnswer | NotChanged | NoSuchClient:
        """One change of the client's credentials, everything else kept as the client holds
        it; a switch to client_secret_basic answers the new secret."""

        async def change(clients: ClientService, page: ClientView) -> tuple[Client, str | None]:
            client = page.client
            # A form read against another version of the client (a key since removed, say)
            # is answered as stale, as the update itself would answer it.
            if not if_match_allows(if_match, client):
                raise VersionMismatch()
            request = _unchanged(client, read_change(client))
            return await clients.update(actor, client_key, request, if_match=if_match)

        return await self._change(actor, client_key, context, change)

    async def set_dpop_bound(
        self,
        actor: Actor,
        client_key: str,
        bound: bool,
        context: RequestContext,
        *,
        if_match: str | None,
    ) -> ClientAnswer | NotChanged | NoSuchClient:
        """Require the client's tokens to be DPoP-bound (RFC 9449 §5.2) or not, everything else
        kept as the client holds it; asking for what it already holds is refused."""

        def held(client: Client) -> bool:
            return client.dpop_bound

        def request(client: Client) -> ClientRequest:
            return replace(_unchanged(client, CredentialRequest()), dpop_bound=bound)

        already = "must already be" if bound else "already need not be"
        refusal = ValidationFailed(f"The client's tokens {already} DPoP-bound.", field=DPOP_BOUND)
        return await self._set_flag(
            actor, client_key, context, bound, held, request, refusal, if_match=if_match
        )

    async def set_governance(
        self,
        actor: Actor,
        client_key: str,
        ip_allowlist: list[str],
        token_rate_limit: dict[str, object] | None,
        context: RequestContext,
        *,
        if_match: str | None,
    ) -> ClientAnswer | NotChanged | NoSuchClient:
        """Replace the client's ``ipAllowlist`` and ``tokenRateLimit`` (docs/governance.md),
        everything else kept as the client holds it."""

        async def change(clients: ClientService, page: ClientView) -> tuple[Client, str | None]:
            if not if_match_allows(if_match, page.client):
                raise VersionMismatch()
            request = replace(
                _unchanged(page.client, CredentialRequest()),
                ip_allowlist=ip_allowlist,
                token_rate_limit=token_rate_limit,
            )
            return await clients.update(actor, client_key, request, if_match=if_match)

        return await self._change(actor, client_key, context, change)

    async def set_certificate_bound(
        self,
        actor: Actor,
        client_key: str,
        bound: bool,
        context: RequestContext,
        *,
        if_match: str | None,
    ) -> ClientAnswer | NotChanged | NoSuchClient:
        """Bind the client's tokens to the TLS certificate they are requested with (RFC 8705
        §3.4) or not, everything else kept as the client holds it; asking for what it already
        holds is refused."""

        def held(client: Client) -> bool:
            return client.certificate_bound

        def request(client: Client) -> ClientRequest:
            return replace(_unchanged(client, CredentialRequest()), certificate_bound=bound)

        already = "are already" if bound else "already are not"
        refusal = ValidationFailed(
            f"The client's tokens {already} bound to its TLS certificate.",
            field=CERTIFICATE_BOUND,
        )
        return await self._set_flag(
            actor, client_key, context, bound, held, request, refusal, if_match=if_match
        )

    async def _set_flag(
        self,
        actor: Actor,
        client_key: str,
        context: RequestContext,
        bound: bool,
        held: Callable[[Client], bool],
        request: Callable[[Client], ClientRequest],
        refusal: ValidationFailed,
        *,
        if_match: str | None,
    ) -> ClientAnswer | NotChanged | NoSuchClient:
        """One flag of the client set to ``bound`` by the update ``request`` makes of it; a
        stale form is refused first, then a flag already ``bound`` (with ``refusal``)."""

        async def change(clients: ClientService, page: ClientView) -> tuple[Client, str | None]:
            client = page.client
            if not if_match_allows(if_match, client):
                raise VersionMismatch()
            if held(client) == bound:
                raise refusal
            return await clients.update(actor, client_key, request(client), if_match=if_match)

        return await self._change(actor, client_key, context, change)

    async def delete_client(
        self, actor: Actor, client_key: str, context: RequestContext, *, if_match: str | None
    ) -> ClientAnswer | NotChanged | NoSuchClient:
        async def delete(clients: ClientService, _: ClientView) -> tuple[Client, str | None]:
            return await clients.delete(actor, client_key, if_match=if_match), None

        return await self._change(actor, client_key, context, delete)

    async def rotate_secret(
        self,
        actor: Actor,
        client_key: str,
        context: RequestContext,
        *,
        grace_seconds: int,
        if_match: str | None,
        secret_lifetime: int | None = None,
    ) -> ClientAnswer | NotChanged | NoSuchClient:
        async def rotate(clients: ClientService, _: ClientView) -> tuple[Client, str | None]:
            return await clients.rotate_secret(
                actor,
                client_key,
                grace_seconds=grace_seconds,
                if_match=if_match,
                secret_lifetime=secret_lifetime,
            )

        return await self._change(actor, client_key, context, rotate)

    async def end_grace(
        self, actor: Actor, client_key: str, context: RequestContext, *, if_match: str | None
    ) -> ClientAnswer | NotChanged | NoSuchClient:
        async def end(clients: ClientService, _: ClientView) -> tuple[Client, str | None]:
            return await clients.end_grace(actor, client_key, if_match=if_match), None

        return await self._change(actor, client_key, context, end)

    async def _change(
        self, actor: Actor, client_key: str, context: RequestContext, change: ClientChange
    ) -> ClientAnswer | NotChanged | NoSuchClient:
        """``change`` in a write transaction, after reading the client's page to show again
        should the rules refuse it."""
        page: ClientView | None = None
        try:
            async with self._unit(context, write=True) as (clients, store):
                found = await _client_view(clients, store, actor, client_key)
                if isinstance(found, NoSuchClient):
                    return found
                page = found
                client, secret = await change(clients, found)
                return ClientAnswer(client, found.org, secret)
        except KeyloftError as error:
            if page is None:
                raise
            return NotChanged(page, error)


def _unchanged(client: Client, credentials: CredentialRequest) -> ClientRequest:
    """An update asking for the client as it is, but for ``credentials``."""
    return ClientRequest(
        expiration_token_time=client.expiration_token_time,
        default_till_id=client.default_till_id,
        scopes=[
            ScopeInput(grant.entity_id, grant.permission.value, list(grant.resources))
            for grant in client.grants
        ],
        name=client.name,
        description=client.description,
        credentials=credentials,
    )


def _matches(client: Client, text: str) -> bool:
    text = text.casefold()
    return any(
        text in value.casefold() for value in (client.name, client.client_key, client.description)
    )


async def _choices(clients: ClientService, actor: Actor) -> FormChoices:
    org = await clients.org(actor)
    entities = await clients.scopes(actor)
    tills = await clients.tills(actor)
    return FormChoices(org, entities, tills, _first_till(actor, tills))


def _first_till(actor: Actor, tills: list[Principal]) -> int | None:
    if actor.principal.kind is PrincipalKind.TILL:
        return actor.principal.id
    return tills[0].id if len(tills) == 1 else None


async def _client_view(
    clients: ClientService, store: Store, actor: Actor, client_key: str
) -> ClientView | NoSuchClient:
    org = await clients.org(actor)
    try:
        client = await clients.get(actor, client_key)
    except ClientNotFound as missing:
        return NoSuchClient(org, missing.message)
    entities = await clients.scopes(actor)
    tills = await clients.tills(actor)
    history = await AuditService(store).find(
        actor.org_id, client_key=client.client_key, limit=HISTORY
    )
    uses = await clients.credential_uses(client)
    return ClientView(org, client, entities, tills, history.events, uses)

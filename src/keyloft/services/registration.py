"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592): register a
client, then read, replace and delete its registration with its registration access token.

Every change goes through the management API's client rules (``ClientService``) in the same
unit of work as the registration's own row, so the org's limits, validation, org sealing and
audit events are those of ``/v3/integrations/clients``; a refusal stores nothing.

Who acts: a registration is made by its caller (an admin by Basic, or a client's
access token acting as its Till), in the caller's org. Through the registration access token
the client acts on itself as its default Till, as its access tokens do, and within its own
current grants: it may keep or narrow its scopes, never widen them. The audit trail records
those changes as that Till's.

The registration access token is stored only as a keyed hash (``SecretHasher``, as client
secrets are), compared in constant time, and replaced by every update. Whatever is wrong with
a presented token — unknown client, client made without registration, deleted client, token
replaced or of another client — the refusal is the same ``InvalidToken``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from keyloft.domain.actors import Actor, PrincipalKind
from keyloft.domain.audit import RequestContext
from keyloft.domain.clients import Client
from keyloft.domain.credentials import SecretCheck
from keyloft.domain.errors import (
    AccessDenied,
    InvalidToken,
    NameTaken,
    StateForbids,
    ValidationFailed,
)
from keyloft.domain.registration import (
    ClientMetadata,
    InvalidClientMetadata,
    Registration,
    ScopeRequest,
    answered_method,
    check_registration,
    check_update,
    metadata_problem,
    new_registration_token,
)
from keyloft.domain.scopes import ScopeEntity
from keyloft.services.clients import ClientService
from keyloft.services.node import Node
from keyloft.services.ports import ClientSecrets, Store
from keyloft.services.registration_requests import client_request

REFUSED = "The registration access token is invalid."


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A registered client as answered: its scopes' entities (to name them), its registration
    access token, its secret when this answer issued one, and its method as answered."""

    client: Client
    entities: Sequence[ScopeEntity]
    token: str
    auth_method: str
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class _Found:
    registration: Registration
    client: Client
    secrets: ClientSecrets


class ClientRegistration:
    def __init__(self, node: Node) -> None:
        self._node = node

    async def register(
        self, actor: Actor, metadata: ClientMetadata, context: RequestContext
    ) -> RegisteredClient:
        """RFC 7591 §3: a new client of the caller's org, and its registration access token."""
        check_registration(metadata)
        token = new_registration_token()
        async with self._node.transaction(write=True) as store:
            clients = ClientService.of(self._node, store, context)
            entities = await store.scopes.list(actor.org_id)
            request, scopes = await client_request(clients, actor, metadata, entities)
            with _as_metadata(scopes):
                client, secret = await clients.create(actor, request)
            await store.registrations.add(
                client.id,
                self._node.hasher.hash(token),
                auth_method=metadata.auth_method,
                now=client.created_on,
            )
        method = answered_method(client, metadata.auth_method)
        return RegisteredClient(client, entities, token, method, secret)

    async def read(self, client_key: str, token: str) -> RegisteredClient:
        """RFC 7592 §2.1: the client's current metadata (its secret is never shown again)."""
        async with self._node.transaction(write=False) as store:
            found = await self._authorised(store, client_key, token)
            entities = await store.scopes.list(found.client.org_id)
        client = found.client
        method = answered_method(client, found.registration.auth_method)
        return RegisteredClient(client, entities, token, method)

    async def update(
        self, client_key: str, token: str, metadata: ClientMetadata, context: RequestContext
    ) -> RegisteredClient:
        """RFC 7592 §2.2: replace the client's metadata as a whole, and its token."""
        fresh = new_registration_token()
        await self._precheck(client_key, token)
        async with self._node.transaction(write=True) as store:
            found = await self._authorised(store, client_key, token)
            check_update(metadata, found.client.client_key)
            check_registration(metadata, new=False)
            self._check_secret(metadata, found.secrets)
            actor = await _client_itself(store, found.client)
            clients = ClientService.of(self._node, store, context)
            entities = await store.scopes.list(actor.org_id)
            request, scopes = await client_request(clients, actor, metadata, entities)
            with _as_metadata(scopes):
                client, secret = await clients.update(
                    actor, found.client.client_key, request, if_match=None
                )
            rotated = await store.registrations.rotate(
                client.id,
                self._node.hasher.hash(fresh),
                replacing=found.registration.token_hash,
                auth_method=metadata.auth_method,
                now=client.last_updated_on,
            )
            if not rotated:  # another update with this same token came first
                raise InvalidToken(REFUSED, reason="registration")
        method = answered_method(client, metadata.auth_method)
        return RegisteredClient(client, entities, fresh, method, secret)

    async def delete(self, client_key: str, token: str, context: RequestContext) -> None:
        """RFC 7592 §2.3: delete the client (softly, as the management API does); its
        registration and token go with it."""
        await self._precheck(client_key, token)
        async with self._node.transaction(write=True) as store:
            found = await self._authorised(store, client_key, token)
            actor = await _client_itself(store, found.client)
            clients = ClientService.of(self._node, store, context)
            await clients.delete(actor, found.client.client_key, if_match=None)
            await store.registrations.remove(found.client.id)

    async def _precheck(self, client_key: str, token: str) -> None:
        """Refuse a token that proves nothing before a change takes the store's write lock
        (the change checks it again, in its own transaction)."""
        async with self._node.transaction(write=False) as store:
            await self._authorised(store, client_key, token)

    async def _authorised(self, store: Store, client_key: str, token: str) -> _Found:
        """The registration ``token`` proves, with its valid client; else ``InvalidToken``."""
        hasher = self._node.hasher
        registration = await store.registrations.find(client_key)
        if registration is None:
            hasher.hash(token)  # as much work as a comparison: no hint the key is unknown
            raise InvalidToken(REFUSED, reason="registration")
        if hasher.check(token, registration.token_hash) is SecretCheck.NO_MATCH:
            raise InvalidToken(REFUSED, reason="registration")
        found = await store.clients.credentials_by_id(registration.client_id)
        if found is None or not found[0].is_valid:
            raise InvalidToken(REFUSED, reason="registration")
        return _Found(registration, *found)

    def _check_secret(self, metadata: ClientMetadata, secrets: ClientSecrets) -> None:
        """RFC 7592 §2.2: a ``client_secret`` sent must be the current one; never a new one."""
        sent = metadata.client_secret
        if sent is None:
            return
        if secrets.current is None or not self._node.hasher.verify(sent, secrets.current):
            raise InvalidClientMetadata(
                "client_secret is not the client's current secret; a client cannot choose its own.",
                field="client_secret",
            )


async def _client_itself(store: Store, client: Client) -> Actor:
    """The client acting on itself: as its default Till, within its own grants."""
    till = await store.principals.get_in_org(
        client.org_id, client.default_till_id, PrincipalKind.TILL
    )
    if till is None:  # as its access tokens are refused
        raise AccessDenied()
    return Actor(principal=till, grants=client.grants, client_id=client.id)


@contextmanager
def _as_metadata(scopes: ScopeRequest) -> Iterator[None]:
    """A client rule's refusal in RFC 7591's terms: ``invalid_client_metadata`` naming the
    metadata field, or a scope beyond the caller's grants named by its entity."""
    try:
        yield
    except NameTaken:
        raise InvalidClientMetadata(
            "client_name is taken: an active client of the org has this name.",
            field="client_name",
        ) from None
    except (ValidationFailed, StateForbids) as exc:  # RFC 7591 §3.2.2: metadata, 400
        raise metadata_problem(exc, scopes) from None
    except AccessDenied as exc:
        beyond = [
            name
            for scope, name in zip(scopes.scopes, scopes.entity_names, strict=True)
            if exc.field == f"scopes (entityId {scope.entity_id})"
        ]
        if not beyond:
            raise
        raise AccessDenied(
            f"scope {beyond[0]} is beyond the caller's own grants: a token gives no more than "
            "it holds, and a client never widens its own.",
            field="scope",
        ) from None

"""Managing an org's API clients: create, list, read, change, rotate the secret and (softly)
delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from keyloft.domain.actors import Actor, Principal, PrincipalKind
from keyloft.domain.audit import AuditEvent, RequestContext, client_fields, diff
from keyloft.domain.clients import (
    CLIENT_SECRET,
    MAX_NAME,
    Client,
    if_match_allows,
)
from keyloft.domain.credentials import SecretHasher, new_client_key, new_client_secret
from keyloft.domain.errors import (
    AccessDenied,
    ClientDeleted,
    ClientLimitReached,
    ClientNotFound,
    NameTaken,
    ValidationFailed,
    VersionMismatch,
)
from keyloft.domain.governance import check_secret_lifetime, secret_expiry
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import ScopeEntity, grants_cover
from keyloft.domain.webhooks import client_events
from keyloft.services.client_requests import (
    ClientRequest,
    check_credentials,
    check_governance,
    check_request,
)
from keyloft.services.client_states import ClientStates
from keyloft.services.cursor import CLIENT_CURSOR, decode_cursor, encode_cursor
from keyloft.services.node import Node
from keyloft.services.ports import ClientCache, ClientPage, ClientSecrets, Clock, Store
from keyloft.services.usage import UsageLog

MAX_GRACE_SECONDS = 7 * 24 * 3600
DEFAULT_PAGE = 50
MAX_PAGE = 200
_CURSOR_KIND = CLIENT_CURSOR


@dataclass(frozen=True, slots=True)
class ClientList:
    clients: list[Client]
    next_cursor: str | None


class ClientService:
    def __init__(
        self,
        store: Store,
        hasher: SecretHasher,
        clock: Clock,
        context: RequestContext | None = None,
        usage: UsageLog | None = None,
        cache: ClientCache | None = None,
        *,
        allow_http: bool = False,
        client_ca: bool = False,
    ) -> None:
        self._store = store
        self._allow_http = allow_http
        self._client_ca = client_ca
        self._hasher = hasher
        self._clock = clock
        self._context = context or RequestContext()
        self._usage = usage
        self._cache = cache

    @classmethod
    def of(cls, node: Node, store: Store, context: RequestContext | None = None) -> ClientService:
        """The rules over ``store``, with the node's hasher, clock, usage log and cache."""
        return cls(
            store,
            node.hasher,
            node.clock,
            context,
            node.usage,
            node.cache,
            allow_http=node.federation_allow_http,
            client_ca=node.client_trust is not None,
        )

    def _latest_use(self, client: Client) -> Client:
        """The client with this node's uses not yet written counted in."""
        return self._usage.with_latest_use(client) if self._usage is not None else client

    def _with_latest_uses(
        self, clients: Sequence[Client], *, include_invalid: bool
    ) -> list[Client]:
        """``_latest_use`` of each client (deleted ones only with ``include_invalid``)."""
        if self._usage is None:
            return [c for c in clients if include_invalid or c.is_valid]
        overlay = self._usage.with_latest_use
        return [overlay(c) for c in clients if include_invalid or c.is_valid]

    async def _record(
        self,
        actor: Actor,
        action: str,
        client: Client,
        changes: dict[str, list[Any]],
    ) -> None:
        """The audit event of a change, and the webhook events it raises (into the outbox), in
        the change's own transaction."""
        await self._store.audit.add(
            AuditEvent(
                org_id=client.org_id,
                at=client.last_updated_on,
                actor=actor.principal,
                action=action,
                target_type="client",
                target=client.client_key,
                changes=changes,
                context=self._context,
            )
        )
        for event in client_events(action, client, changes):
            await self._store.webhooks.enqueue(client.org_id, event, client.last_updated_on)

    async def org(self, actor: Actor) -> Org:
        held = self._cache.org_clients(actor.org_id) if self._cache is not None else None
        if held is not None:
            return held[0]
        org = await self._store.orgs.get(actor.org_id)
        if org is None:  # the org row outlives its principals; this is a broken store
            raise AccessDenied()
        return org

    async def scopes(self, actor: Actor) -> list[ScopeEntity]:
        return await self._store.scopes.list(actor.org_id)

    async def tills(self, actor: Actor) -> list[Principal]:
        """The Tills of the actor's org a client may act as, in id order."""
        return await self._store.principals.list_in_org(actor.org_id, PrincipalKind.TILL)

    async def list(self, actor: Actor, *, include_invalid: bool) -> list[Client]:
        return (await self.page(actor, include_invalid=include_invalid)).clients

    async def page(
        self,
        actor: Actor,
        *,
        include_invalid: bool,
        name: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> ClientList:
        """The org's clients in creation order; with ``limit`` or ``cursor``, one page of them
        (``limit`` defaults to ``DEFAULT_PAGE`` then); ``name`` keeps those whose name holds
        it, ignoring case."""
        if limit is not None and not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
        if name is not None and not 1 <= len(name) <= MAX_NAME:
            raise ValidationFailed(f"name must be 1 to {MAX_NAME} characters.", field="name")
        paged = limit is not None or cursor is not None
        if not paged and name is None and self._cache is not None:
            _, every = await self._org_clients(actor)
            return ClientList(self._with_latest_uses(every, include_invalid=include_invalid), None)
        size = (limit or DEFAULT_PAGE) if paged else None
        found = await self._store.clients.page(
            ClientPage(
                actor.org_id,
                include_invalid=include_invalid,
                name_contains=name,
                after_id=decode_cursor(_CURSOR_KIND, cursor) if cursor is not None else None,
                limit=size + 1 if size is not None else None,
            )
        )
        found = self._with_latest_uses(found, include_invalid=True)  # the store filtered
        if size is None or len(found) <= size:
            return ClientList(found, None)
        found = found[:size]
        return ClientList(found, encode_cursor(_CURSOR_KIND, found[-1].id))

    async def _org_clients(self, actor: Actor) -> tuple[Org, tuple[Client, ...]]:
        """The org and all its clients, from the node's cache when it holds them."""
        assert self._cache is not None
        held = self._cache.org_clients(actor.org_id)
        if held is not None:
            return held
        read_at = self._cache.generation()
        org = await self.org(actor)
        every = tuple(await self._store.clients.list(org.id, include_invalid=True))
        self._cache.put_org_clients(org, every, read_at=read_at)
        return org, every

    async def get(self, actor: Actor, client_key: str) -> Client:
        client = await self._store.clients.get(actor.org_id, client_key)
        if client is None:
            raise ClientNotFound()
        return self._latest_use(client)

    async def credential_uses(self, client: Client) -> dict[str, datetime]:
        """When each of the client's keys and federated credentials last minted a token,
        with this node's uses not yet written counted in (none for a plain secret client)."""
        if not client.credentials:
            return {}
        uses = await self._store.clients.credential_uses(client.id)
        if self._usage is not None:
            for credential, at in self._usage.pending_credentials(client.id).items():
                if credential not in uses or uses[credential] < at:
                    uses[credential] = at
        return uses

    async def read(self, actor: Actor, client_key: str) -> tuple[Client, Org]:
        """A client and its org, for answering a read: from the node's client cache when it
        holds them (as fresh as the token path's copy), else from the store. Not for changes,
        which read the client in their own transaction (``get``)."""
        if self._cache is None:
            return await self.get(actor, client_key), await self.org(actor)
        state = await ClientStates(self._store, self._cache).by_key(client_key)
        if state is None or state.client.org_id != actor.org_id:
            raise ClientNotFound()
        org = state.org if state.org is not None else await self.org(actor)
        return self._latest_use(state.client), org

    async def create(self, actor: Actor, request: ClientRequest) -> tuple[Client, str | None]:
        """Returns the client and its secret, which is never available again (None: a client
        that authenticates without a secret)."""
        org = await self.org(actor)
        if request.name is None:
            raise ValidationFailed("name is required.", field="name")
        if request.description is None:
            raise ValidationFailed("description is required.", field="description")
        checked = await check_request(self._store, actor, org, request)
        assert checked.name is not None
        assert checked.description is not None
        method = check_credentials(
            request.credentials, None, allow_http=self._allow_http, client_ca=self._client_ca
        )
        governance = check_governance(request, None)
        lifetime = check_secret_lifetime(request.secret_lifetime)
        await self._store.orgs.lock(org.id)
        if await self._store.clients.count_valid(org.id) >= org.max_clients:
            raise ClientLimitReached(
                f"The org already has its maximum of {org.max_clients} active API clients; "
                "delete one first."
            )
        if await self._store.clients.name_in_use(org.id, checked.name, except_id=None):
            raise NameTaken(field="name")
        secret = new_client_secret() if method.auth_method == CLIENT_SECRET else None
        now = self._clock.now()
        client = await self._store.clients.add(
            org_id=org.id,
            client_key=new_client_key(),
            secret_hash=self._hasher.hash(secret) if secret is not None else None,
            name=checked.name,
            description=checked.description,
            expiration_token_time=checked.ttl,
            default_till_id=checked.till_id,
            grants=checked.grants,
            actor_id=actor.principal.id,
            now=self._clock.now(),
            auth_method=method.auth_method,
            credentials=method.credentials,
            dpop_bound=bool(request.dpop_bound),
            certificate_bound=bool(request.certificate_bound),
            governance=governance,
            secret_expires_at=secret_expiry(now, lifetime, org.secret_lifetime) if secret else None,
        )
        await self._record(actor, "client.create", client, diff(None, client_fields(client)))
        return client, secret

    async def update(
        self, actor: Actor, client_key: str, request: ClientRequest, *, if_match: str | None
    ) -> tuple[Client, str | None]:
        """The changed client, and its new secret when the change gave it one (a switch to
        client_secret_basic); a switch away from it drops the secret."""
        org = await self.org(actor)
        current = await self._changeable(actor, client_key, if_match)
        checked = await check_request(self._store, actor, org, request)
        method = check_credentials(
            request.credentials, current, allow_http=self._allow_http, client_ca=self._client_ca
        )
        governance = check_governance(request, current)
        lifetime = check_secret_lifetime(request.secret_lifetime)
        secret: str | None = None
        secrets: ClientSecrets | None = None
        if method.auth_method != current.auth_method:
            if method.auth_method == CLIENT_SECRET:
                secret = new_client_secret()
                expires = secret_expiry(self._clock.now(), lifetime, org.secret_lifetime)
                secrets = ClientSecrets(self._hasher.hash(secret), current_expires_at=expires)
            else:
                secrets = ClientSecrets(None)
        name = checked.name if checked.name is not None else current.name
        description = (
            checked.description if checked.description is not None else current.description
        )
        await self._store.orgs.lock(org.id)
        if name != current.name and await self._store.clients.name_in_use(
            org.id, name, except_id=current.id
        ):
            raise NameTaken(field="name")
        updated = await self._store.clients.update(
            current.id,
            name=name,
            description=description,
            expiration_token_time=checked.ttl,
            default_till_id=checked.till_id,
            grants=checked.grants,
            actor_id=actor.principal.id,
            now=self._clock.now(),
            expected_version=current.version,
            auth_method=method.auth_method,
            credentials=method.credentials,
            secrets=secrets,
            dpop_bound=current.dpop_bound if request.dpop_bound is None else request.dpop_bound,
            certificate_bound=current.certificate_bound
            if request.certificate_bound is None
            else request.certificate_bound,
            governance=governance,
        )
        if updated is None:
            raise VersionMismatch()
        changes = diff(client_fields(current), client_fields(updated))
        if secret is not None:
            changes["secret"] = [None, "issued"]
        await self._record(actor, "client.update", updated, changes)
        return self._latest_use(updated), secret

    async def delete(self, actor: Actor, client_key: str, *, if_match: str | None) -> Client:
        current = await self._changeable(actor, client_key, if_match)
        deleted = await self._store.clients.invalidate(
            current.id,
            actor_id=actor.principal.id,
            now=self._clock.now(),
            expected_version=current.version,
        )
        if deleted is None:
            raise VersionMismatch()
        await self._record(
            actor, "client.delete", deleted, diff(client_fields(current), client_fields(deleted))
        )
        return self._latest_use(deleted)

    async def rotate_secret(
        self,
        actor: Actor,
        client_key: str,
        *,
        grace_seconds: int,
        if_match: str | None,
        secret_lifetime: int | None = None,
    ) -> tuple[Client, str]:
        """A new secret, returned only now; the replaced one keeps working for
        ``grace_seconds`` (0: not at all). A secret still in grace is dropped: at most two
        secrets are ever live. The new secret expires after ``secret_lifetime`` seconds (0:
        never; None: the org's default)."""
        lifetime = check_secret_lifetime(secret_lifetime)
        if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
            raise ValidationFailed(
                f"graceSeconds must be between 0 and {MAX_GRACE_SECONDS}.", field="graceSeconds"
            )
        current = await self._changeable(actor, client_key, if_match)
        if not current.has_secret:
            raise ValidationFailed(
                f"This client authenticates with {current.auth_method} and has no secret to "
                "rotate; change its keys or federated credentials instead.",
                field="tokenEndpointAuthMethod",
            )
        replaced = await self._secrets(current)
        now = self._clock.now()
        secret = new_client_secret()
        org = await self.org(actor)
        expires = secret_expiry(now, lifetime, org.secret_lifetime)
        kept = (
            ClientSecrets(
                self._hasher.hash(secret),
                replaced.current,
                now + timedelta(seconds=grace_seconds),
                expires,
            )
            if grace_seconds and replaced.current is not None
            else ClientSecrets(self._hasher.hash(secret), current_expires_at=expires)
        )
        rotated = await self._store.clients.set_secrets(
            current.id,
            kept,
            actor_id=actor.principal.id,
            now=now,
            expected_version=current.version,
        )
        if rotated is None:
            raise VersionMismatch()
        await self._record(
            actor,
            "client.secret.rotate",
            rotated,
            {"previousSecretGraceSeconds": [None, grace_seconds]}
            | diff(_expiry_field(current), _expiry_field(rotated)),
        )
        return self._latest_use(rotated), secret

    async def end_grace(self, actor: Actor, client_key: str, *, if_match: str | None) -> Client:
        """Stop accepting the secret a rotation replaced; nothing changes when none is live."""
        current = await self._changeable(actor, client_key, if_match)
        secrets = await self._secrets(current)
        now = self._clock.now()
        if secrets.previous_at(now) is None:
            return current
        ended = await self._store.clients.set_secrets(
            current.id,
            ClientSecrets(secrets.current, current_expires_at=secrets.current_expires_at),
            actor_id=actor.principal.id,
            now=now,
            expected_version=current.version,
        )
        if ended is None:
            raise VersionMismatch()
        await self._record(
            actor, "client.secret.end_grace", ended, {"previousSecretLive": [True, False]}
        )
        return self._latest_use(ended)

    async def _secrets(self, client: Client) -> ClientSecrets:
        found = await self._store.clients.credentials_by_id(client.id)
        if found is None:  # read in this same transaction a moment ago
            raise ClientNotFound()
        return found[1]

    async def _changeable(self, actor: Actor, client_key: str, if_match: str | None) -> Client:
        current = await self.get(actor, client_key)
        if not current.is_valid:
            raise ClientDeleted()
        if not if_match_allows(if_match, current):
            raise VersionMismatch()
        if actor.grants is not None and grants_cover(actor.grants, current.grants) is not None:
            raise AccessDenied()
        return current


def _expiry_field(client: Client) -> dict[str, Any]:
    return {"clientSecretExpiresAt": client_fields(client)["clientSecretExpiresAt"]}

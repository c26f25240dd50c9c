"""In-memory implementations of the ports in ``keyloft.services.ports`` for service tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.audit import AuditEvent
from keyloft.domain.clients import CLIENT_SECRET, NO_CREDENTIALS, Client, ClientCredentials
from keyloft.domain.governance import NO_GOVERNANCE, Governance
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import Grant, ScopeEntity
from keyloft.domain.webhooks import Event
from keyloft.services.ports import (
    AuditQuery,
    Changes,
    ClientPage,
    ClientSecrets,
    RemoteDocument,
    RemoteFetchFailed,
    StoredKey,
)


class FakeClock:
    """A settable wall clock; ``advance`` moves it forward."""

    def __init__(self, start: datetime | None = None) -> None:
        self.moment = start or datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


class FakeOrgs:
    def __init__(self) -> None:
        self.rows: dict[int, Org] = {}
        self.locked: list[int] = []

    async def get(self, org_id: int) -> Org | None:
        return self.rows.get(org_id)

    async def lock(self, org_id: int) -> None:
        self.locked.append(org_id)

    async def add(
        self, *, name: str, timezone: str, max_clients: int, max_token_ttl: int, now: datetime
    ) -> Org:
        org = Org(len(self.rows) + 1, name, timezone, max_clients, max_token_ttl)
        self.rows[org.id] = org
        return org

    async def find_by_name(self, name: str) -> Org | None:
        return next((org for org in self.rows.values() if org.name == name), None)


class FakePrincipals:
    def __init__(self) -> None:
        self.rows: dict[int, tuple[Principal, str]] = {}

    async def credentials(self, code: str) -> tuple[Principal, str] | None:
        return next((row for row in self.rows.values() if row[0].code == code), None)

    async def session_credentials(self, code: str) -> tuple[Principal, str, int] | None:
        found = await self.credentials(code)
        return None if found is None else (*found, 0)

    async def get(self, principal_id: int) -> Principal | None:
        row = self.rows.get(principal_id)
        return row[0] if row else None

    async def get_in_org(
        self, org_id: int, principal_id: int, kind: PrincipalKind
    ) -> Principal | None:
        found = await self.get(principal_id)
        if found is None or found.org_id != org_id or found.kind is not kind:
            return None
        return found

    async def find_in_org(self, org_id: int, code: str, kind: PrincipalKind) -> Principal | None:
        return next(
            (
                p
                for p, _ in self.rows.values()
                if p.org_id == org_id and p.code == code and p.kind is kind
            ),
            None,
        )

    async def list_in_org(self, org_id: int, kind: PrincipalKind) -> list[Principal]:
        return sorted(
            (p for p, _ in self.rows.values() if p.org_id == org_id and p.kind is kind),
            key=lambda p: p.id,
        )

    async def code_taken(self, code: str) -> bool:
        return await self.credentials(code) is not None

    async def add(
        self,
        *,
        org_id: int,
        kind: PrincipalKind,
        code: str,
        name: str,
        password_hash: str,
        now: datetime,
    ) -> Principal:
        principal = Principal(len(self.rows) + 1, org_id, kind, code, name)
        self.rows[principal.id] = (principal, password_hash)
        return principal


class FakeScopes:
    def __init__(self) -> None:
        self.rows: dict[int, list[ScopeEntity]] = {}

    async def list(self, org_id: int) -> list[ScopeEntity]:
        return sorted(self.rows.get(org_id, []), key=lambda entity: entity.id)

    async def add(self, org_id: int, name: str, area_pattern: str | None) -> ScopeEntity:
        entities = self.rows.setdefault(org_id, [])
        entity = ScopeEntity(max((e.id for e in entities), default=0) + 1, name, area_pattern)
        entities.append(entity)
        return entity


class FakeClients:
    def __init__(self, principals: FakePrincipals) -> None:
        self._principals = principals
        # id -> (client, current secret hash: None for a client without a secret)
        self.rows: dict[int, tuple[Client, str | None]] = {}
        self.uses: dict[tuple[int, str], datetime] = {}
        self.grace: dict[int, tuple[str, datetime]] = {}  # id -> (replaced hash, its end)

    async def _principal(self, principal_id: int) -> Principal:
        found = await self._principals.get(principal_id)
        assert found is not None, f"unknown principal {principal_id}"
        return found

    async def add(
        self,
        *,
        org_id: int,
        client_key: str,
        secret_hash: str | None,
        name: str,
        description: str,
        expiration_token_time: int,
        default_till_id: int,
        grants: Sequence[Grant],
        actor_id: int,
        now: datetime,
        auth_method: str = CLIENT_SECRET,
        credentials: ClientCredentials = NO_CREDENTIALS,
        dpop_bound: bool = False,
        certificate_bound: bool = False,
        governance: Governance = NO_GOVERNANCE,
        secret_expires_at: datetime | None = None,
    ) -> Client:
        actor = await self._principal(actor_id)
        client = Client(
            id=len(self.rows) + 1,
            org_id=org_id,
            client_key=client_key,
            name=name,
            description=description,
            expiration_token_time=expiration_token_time,
            default_till_id=default_till_id,
            is_valid=True,
            grants=tuple(grants),
            created_on=now,
            last_updated_on=now,
            created_by=actor,
            last_updated_by=actor,
            auth_method=auth_method,
            credentials=credentials,
            dpop_bound=dpop_bound,
            certificate_bound=certificate_bound,
            governance=governance,
            secret_expires_at=secret_expires_at,
        )
        self.rows[client.id] = (client, secret_hash)
        return client

    async def get(self, org_id: int, client_key: str) -> Client | None:
        return next(
            (c for c, _ in self.rows.values() if c.org_id == org_id and c.client_key == client_key),
            None,
        )

    async def credentials(self, client_key: str) -> tuple[Client, ClientSecrets] | None:
        found = next((c for c, _ in self.rows.values() if c.client_key == client_key), None)
        return await self.credentials_by_id(found.id) if found else None

    async def credentials_by_id(self, client_id: int) -> tuple[Client, ClientSecrets] | None:
        row = self.rows.get(client_id)
        if row is None:
            return None
        client, secret_hash = row
        previous, expires = self.grace.get(client_id, (None, None))
        return client, ClientSecrets(secret_hash, previous, expires, client.secret_expires_at)

    async def set_secret_hash(
        self, client_id: int, secret_hash: str, *, replacing: str | None = None
    ) -> None:
        client, stored = self.rows[client_id]
        if replacing is None or stored == replacing:
            self.rows[client_id] = (client, secret_hash)

    async def set_secrets(
        self,
        client_id: int,
        secrets: ClientSecrets,
        *,
        actor_id: int,
        now: datetime,
        expected_version: int,
    ) -> Client | None:
        changed = await self._bump(
            client_id,
            expected_version,
            actor_id,
            now,
            secret_expires_at=secrets.current_expires_at,
        )
        if changed is not None:
            self.rows[client_id] = (changed, secrets.current)
            if secrets.previous is not None and secrets.previous_expires_at is not None:
                self.grace[client_id] = (secrets.previous, secrets.previous_expires_at)
            else:
                self.grace.pop(client_id, None)
        return changed

    async def list(self, org_id: int, *, include_invalid: bool) -> list[Client]:
        return [
            c
            for c, _ in self.rows.values()
            if c.org_id == org_id and (include_invalid or c.is_valid)
        ]

    async def page(self, page: ClientPage) -> list[Client]:
        found = [
            c
            for c in await self.list(page.org_id, include_invalid=page.include_invalid)
            if (page.name_contains is None or page.name_contains.lower() in c.name.lower())
            and (page.after_id is None or c.id > page.after_id)
        ]
        return found[: page.limit] if page.limit is not None else found

    async def record_use(self, uses: Mapping[int, datetime]) -> None:
        for client_id, at in uses.items():
            client, secret = self.rows[client_id]
            if client.last_used_on is None or client.last_used_on < at:
                self.rows[client_id] = (dataclasses.replace(client, last_used_on=at), secret)

    async def record_mint_limit_hits(self, hits: Mapping[int, datetime]) -> None:
        for client_id, at in hits.items():
            client, secret = self.rows[client_id]
            if client.mint_limit_hit_on is None or client.mint_limit_hit_on < at:
                self.rows[client_id] = (dataclasses.replace(client, mint_limit_hit_on=at), secret)

    async def record_credential_use(self, uses: Mapping[tuple[int, str], datetime]) -> None:
        for key, at in uses.items():
            if key not in self.uses or self.uses[key] < at:
                self.uses[key] = at

    async def credential_uses(self, client_id: int) -> dict[str, datetime]:
        return {name: at for (owner, name), at in self.uses.items() if owner == client_id}

    async def count_valid(self, org_id: int) -> int:
        return len(await self.list(org_id, include_invalid=False))

    async def name_in_use(self, org_id: int, name: str, *, except_id: int | None) -> bool:
        return any(
            c.name == name and c.id != except_id
            for c in await self.list(org_id, include_invalid=False)
        )

    async def _bump(
        self, client_id: int, expected_version: int, actor_id: int, now: datetime, **values: object
    ) -> Client | None:
        client, secret_hash = self.rows[client_id]
        if client.version != expected_version:
            return None
        changed = dataclasses.replace(
            client,
            version=client.version + 1,
            last_updated_on=now,
            last_updated_by=await self._principal(actor_id),
            **values,  # type: ignore[arg-type]
        )
        self.rows[client_id] = (changed, secret_hash)
        return changed

    async def update(
        self,
        client_id: int,
        *,
        name: str,
        description: str,
        expiration_token_time: int,
        default_till_id: int,
        grants: Sequence[Grant],
        actor_id: int,
        now: datetime,
        expected_version: int,
        auth_method: str = CLIENT_SECRET,
        credentials: ClientCredentials = NO_CREDENTIALS,
        secrets: ClientSecrets | None = None,
        dpop_bound: bool = False,
        certificate_bound: bool = False,
        governance: Governance = NO_GOVERNANCE,
    ) -> Client | None:
        changed = await self._bump(
            client_id,
            expected_version,
            actor_id,
            now,
            name=name,
            description=description,
            expiration_token_time=expiration_token_time,
            default_till_id=default_till_id,
            grants=tuple(grants),
            auth_method=auth_method,
            credentials=credentials,
            dpop_bound=dpop_bound,
            certificate_bound=certificate_bound,
            governance=governance,
        )
        if changed is not None and secrets is not None:
            changed = dataclasses.replace(changed, secret_expires_at=secrets.current_expires_at)
            self.rows[client_id] = (changed, secrets.current)
            self.grace.pop(client_id, None)
        return changed

    async def invalidate(
        self, client_id: int, *, actor_id: int, now: datetime, expected_version: int
    ) -> Client | None:
        return await self._bump(client_id, expected_version, actor_id, now, is_valid=False)


class FakeKeys:
    def __init__(self) -> None:
        self.rows: list[tuple[StoredKey, dict[str, object]]] = []

    async def list(self) -> list[StoredKey]:
        return sorted((key for key, _ in self.rows), key=lambda key: key.created_at)

    async def add(self, key: StoredKey, public_jwk: dict[str, object]) -> None:
        self.rows.append((key, public_jwk))


class FakeAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def add(self, event: AuditEvent) -> None:
        self.events.append(dataclasses.replace(event, id=len(self.events) + 1))

    async def find(self, query: AuditQuery) -> list[AuditEvent]:
        found = [e for e in reversed(self.events) if query.everywhere or e.org_id == query.org_id]
        if query.before_id is not None:
            found = [e for e in found if e.id < query.before_id]
        return found[: query.limit]


class FakeRevocations:
    def __init__(self, changes: Changes) -> None:
        self._changes = changes
        self.rows: dict[str, tuple[int, datetime]] = {}

    async def add(self, jti: str, client_id: int, expires_at: datetime) -> None:
        self.rows.setdefault(jti, (client_id, expires_at))
        self._changes.revoked[jti] = expires_at.timestamp()

    async def is_revoked(self, jti: str) -> bool:
        return jti in self.rows

    async def unexpired(self, now: datetime) -> list[tuple[str, datetime]]:
        return [(jti, expires) for jti, (_, expires) in self.rows.items() if expires > now]


class FakeUsedAssertions:
    def __init__(self) -> None:
        self.rows: dict[str, datetime] = {}

    async def claim(self, digest: str, expires_at: datetime) -> bool:
        if digest in self.rows:
            return False
        self.rows[digest] = expires_at
        return True

    async def purge(self, now: datetime) -> int:
        gone = [digest for digest, expires in self.rows.items() if expires < now]
        for digest in gone:
            del self.rows[digest]
        return len(gone)


class FakeRemoteJson:
    """A ``RemoteJson`` serving documents from a dict; ``fetched`` lists each URL asked for."""

    def __init__(self) -> None:
        self.documents: dict[str, RemoteDocument | RemoteFetchFailed] = {}
        self.fetched: list[str] = []

    async def get_json(self, url: str) -> RemoteDocument:
        self.fetched.append(url)
        found = self.documents.get(url, RemoteFetchFailed("status", "404"))
        if isinstance(found, RemoteFetchFailed):
            raise found
        return found


class FakeWebhooks:
    """The outbox side of ``WebhookRepository``: the events enqueued, no subscriptions."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[int, Event]] = []

    async def enqueue(
        self, org_id: int, event: Event, now: datetime, *, dedupe: str | None = None
    ) -> int:
        self.enqueued.append((org_id, event))
        return 0


class FakeStore:
    """One in-memory unit of work with every repository of ``keyloft.services.ports.Store``."""

    def __init__(self) -> None:
        self.changes = Changes()
        self.audit = FakeAudit()
        self.orgs = FakeOrgs()
        self.principals = FakePrincipals()
        self.scopes = FakeScopes()
        self.clients = FakeClients(self.principals)
        self.keys = FakeKeys()
        self.revocations = FakeRevocations(self.changes)
        self.used_assertions = FakeUsedAssertions()
        self.webhooks = FakeWebhooks()

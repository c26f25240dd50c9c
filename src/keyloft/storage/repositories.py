"""SQL repositories implementing the ports of ``keyloft.services.ports``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.audit import AuditEvent, RequestContext
from keyloft.domain.clients import Client
from keyloft.domain.orgs import Org
from keyloft.domain.scopes import Grant, Permission, ScopeEntity
from keyloft.services.ports import AuditQuery, Changes, ClientPage, ClientSecrets, StoredKey
from keyloft.storage.tables import (
    AuditRow,
    ClientRow,
    GrantRow,
    OrgRow,
    PrincipalRow,
    RevokedTokenRow,
    ScopeEntityRow,
    SigningKeyRow,
)


def _unstorable(text: str) -> bool:
    """PostgreSQL text cannot hold NUL: a lookup by such a caller-supplied string finds nothing
    (and must not reach the driver, which rejects it)."""
    return "\x00" in text


def _org(row: OrgRow) -> Org:
    return Org(row.id, row.name, row.timezone, row.max_clients, row.max_token_ttl)


def _principal(row: PrincipalRow | Row[Any]) -> Principal:
    return Principal(
        id=row.id,
        org_id=row.org_id,
        kind=PrincipalKind(row.kind),
        code=row.code,
        name=row.name,
        description=row.description,
    )


# Reads select plain rows (Core), not ORM instances: building an instance and its identity
# state per row cost more than the query itself for an org's list of clients.
_CLIENT = ClientRow.__table__
_GRANT_COLUMNS = (GrantRow.client_id, GrantRow.entity_id, GrantRow.permission, GrantRow.resources)
_ACTOR_COLUMNS = (
    PrincipalRow.id,
    PrincipalRow.org_id,
    PrincipalRow.kind,
    PrincipalRow.code,
    PrincipalRow.name,
    PrincipalRow.description,
)


class SqlOrgs:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def get(self, org_id: int) -> Org | None:
        row = await self._s.get(OrgRow, org_id)
        return _org(row) if row else None

    async def lock(self, org_id: int) -> None:
        # A no-op UPDATE takes the org's row lock on PostgreSQL (and the database write lock on
        # SQLite, already held through BEGIN IMMEDIATE): writers of one org queue here.
        await self._s.execute(update(OrgRow).where(OrgRow.id == org_id).values(id=OrgRow.id))

    async def add(
        self, *, name: str, timezone: str, max_clients: int, max_token_ttl: int, now: datetime
    ) -> Org:
        row = OrgRow(
            name=name,
            timezone=timezone,
            max_clients=max_clients,
            max_token_ttl=max_token_ttl,
            created_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        return _org(row)

    async def find_by_name(self, name: str) -> Org | None:
        row = await self._s.scalar(select(OrgRow).where(OrgRow.name == name))
        return _org(row) if row else None


class SqlPrincipals:
    def __init__(self, session: AsyncSession, changes: Changes) -> None:
        self._s = session
        self._changes = changes

    async def credentials(self, code: str) -> tuple[Principal, str] | None:
        if _unstorable(code):
            return None
        found = await self._s.execute(
            select(*_ACTOR_COLUMNS, PrincipalRow.password_hash).where(
                PrincipalRow.code == code, PrincipalRow.is_active
            )
        )
        row = found.first()
        return (_principal(row), row.password_hash) if row else None

    async def get(self, principal_id: int) -> Principal | None:
        row = await self._s.get(PrincipalRow, principal_id)
        return _principal(row) if row else None

    async def get_in_org(
        self, org_id: int, principal_id: int, kind: PrincipalKind
    ) -> Principal | None:
        row = await self._s.scalar(
            select(PrincipalRow).where(
                PrincipalRow.id == principal_id,
                PrincipalRow.org_id == org_id,
                PrincipalRow.kind == kind.value,
                PrincipalRow.is_active,
            )
        )
        return _principal(row) if row else None

    async def find_in_org(self, org_id: int, code: str, kind: PrincipalKind) -> Principal | None:
        if _unstorable(code):
            return None
        row = await self._s.scalar(
            select(PrincipalRow).where(
                PrincipalRow.code == code,
                PrincipalRow.org_id == org_id,
                PrincipalRow.kind == kind.value,
                PrincipalRow.is_active,
            )
        )
        return _principal(row) if row else None

    async def list_in_org(self, org_id: int, kind: PrincipalKind) -> list[Principal]:
        rows = await self._s.scalars(
            select(PrincipalRow)
            .where(
                PrincipalRow.org_id == org_id,
                PrincipalRow.kind == kind.value,
                PrincipalRow.is_active,
            )
            .order_by(PrincipalRow.id)
        )
        return [_principal(row) for row in rows]

    async def code_taken(self, code: str) -> bool:
        found = await self._s.scalar(select(PrincipalRow.id).where(PrincipalRow.code == code))
        return found is not None

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
        row = PrincipalRow(
            org_id=org_id,
            kind=kind.value,
            code=code,
            name=name,
            description="",
            password_hash=password_hash,
            is_active=True,
            created_at=now,
        )
        self._s.add(row)
        await self._s.flush()
        # Nodes cache the principals of Basic logins per org: a change to an org's principals
        # drops them (nothing cached could be stale after an addition; a later change could).
        self._changes.orgs.add(org_id)
        return _principal(row)


class SqlScopes:
    def __init__(self, session: AsyncSession, changes: Changes) -> None:
        self._s = session
        self._changes = changes

    async def list(self, org_id: int) -> list[ScopeEntity]:
        rows = await self._s.scalars(
            select(ScopeEntityRow)
            .where(ScopeEntityRow.org_id == org_id)
            .order_by(ScopeEntityRow.id)
        )
        return [ScopeEntity(row.id, row.name, row.area_pattern) for row in rows]

    async def add(self, org_id: int, name: str, area_pattern: str | None) -> ScopeEntity:
        highest = await self._s.scalar(
            select(func.max(ScopeEntityRow.id)).where(ScopeEntityRow.org_id == org_id)
        )
        row = ScopeEntityRow(
            org_id=org_id, id=(highest or 0) + 1, name=name, area_pattern=area_pattern
        )
        self._s.add(row)
        await self._s.flush()
        self._changes.orgs.add(org_id)
        return ScopeEntity(row.id, row.name, row.area_pattern)


class SqlClients:
    def __init__(self, session: AsyncSession, changes: Changes) -> None:
        self._s = session
        self._changes = changes

    async def _rows(self, query: Select[Any]) -> list[Row[Any]]:
        return list((await self._s.execute(query)).all())

    async def _assemble(self, rows: Sequence[ClientRow | Row[Any]]) -> list[Client]:
        if not rows:
            return []
        ids = [row.id for row in rows]
        grants: dict[int, list[Grant]] = {client_id: [] for client_id in ids}
        for client_id, entity_id, permission, resources in await self._rows(
            select(*_GRANT_COLUMNS).where(GrantRow.client_id.in_(ids)).order_by(GrantRow.entity_id)
        ):
            grants[client_id].append(Grant(entity_id, Permission(permission), tuple(resources)))
        actor_ids = {row.created_by_id for row in rows} | {row.updated_by_id for row in rows}
        actors = {
            row.id: _principal(row)
            for row in await self._rows(
                select(*_ACTOR_COLUMNS).where(PrincipalRow.id.in_(actor_ids))
            )
        }
        return [
            Client(
                id=row.id,
                org_id=row.org_id,
                client_key=row.client_key,
                name=row.name,
                description=row.description,
                expiration_token_time=row.expiration_token_time,
                default_till_id=row.default_till_id,
                is_valid=row.is_valid,
                grants=tuple(grants[row.id]),
                created_on=row.created_at,
                last_updated_on=row.updated_at,
                created_by=actors[row.created_by_id],
                last_updated_by=actors[row.updated_by_id],
                version=row.version,
                last_used_on=row.last_used_at,
            )
            for row in rows
        ]

    async def _one(self, row: ClientRow | Row[Any] | None) -> Client | None:
        if row is None:
            return None
        return (await self._assemble([row]))[0]

    def _add_grants(self, client_id: int, org_id: int, grants: Iterable[Grant]) -> None:
        for grant in grants:
            self._s.add(
                GrantRow(
                    client_id=client_id,
                    entity_id=grant.entity_id,
                    org_id=org_id,
                    permission=grant.permission.value,
                    resources=list(grant.resources),
                )
            )

    async def add(
        self,
        *,
        org_id: int,
        client_key: str,
        secret_hash: str,
        name: str,
        description: str,
        expiration_token_time: int,
        default_till_id: int,
        grants: Sequence[Grant],
        actor_id: int,
        now: datetime,
    ) -> Client:
        row = ClientRow(
            org_id=org_id,
            client_key=client_key,
            secret_hash=secret_hash,
            name=name,
            description=description,
            expiration_token_time=expiration_token_time,
            default_till_id=default_till_id,
            is_valid=True,
            version=1,
            created_at=now,
            updated_at=now,
            created_by_id=actor_id,
            updated_by_id=actor_id,
        )
        self._s.add(row)
        await self._s.flush()
        self._add_grants(row.id, org_id, grants)
        await self._s.flush()
        # Announced like any change: nodes holding the org's client list drop it.
        self._changes.clients.add(row.id)
        client = await self._one(row)
        assert client is not None
        return client

    async def get(self, org_id: int, client_key: str) -> Client | None:
        if _unstorable(client_key):
            return None
        found = await self._rows(
            select(_CLIENT).where(_CLIENT.c.client_key == client_key, _CLIENT.c.org_id == org_id)
        )
        return await self._one(found[0] if found else None)

    async def get_by_id(self, client_id: int) -> Client | None:
        return await self._one(await self._s.get(ClientRow, client_id))

    async def credentials(self, client_key: str) -> tuple[Client, ClientSecrets] | None:
        if _unstorable(client_key):
            return None
        return await self._with_secrets(select(_CLIENT).where(_CLIENT.c.client_key == client_key))

    async def credentials_by_id(self, client_id: int) -> tuple[Client, ClientSecrets] | None:
        return await self._with_secrets(select(_CLIENT).where(_CLIENT.c.id == client_id))

    async def _with_secrets(self, query: Select[Any]) -> tuple[Client, ClientSecrets] | None:
        found = await self._rows(query)
        row = found[0] if found else None
        client = await self._one(row)
        if client is None or row is None:
            return None
        secrets = ClientSecrets(
            row.secret_hash, row.previous_secret_hash, row.previous_secret_expires_at
        )
        return client, secrets

    async def set_secret_hash(
        self, client_id: int, secret_hash: str, *, replacing: str | None = None
    ) -> None:
        query = update(ClientRow).where(ClientRow.id == client_id)
        if replacing is not None:
            query = query.where(ClientRow.secret_hash == replacing)
        await self._s.execute(
            query.values(secret_hash=secret_hash).execution_options(synchronize_session=False)
        )
        self._changes.clients.add(client_id)

    async def list(self, org_id: int, *, include_invalid: bool) -> list[Client]:
        return await self.page(ClientPage(org_id, include_invalid=include_invalid))

    async def page(self, page: ClientPage) -> list[Client]:
        query = select(_CLIENT).where(_CLIENT.c.org_id == page.org_id).order_by(_CLIENT.c.id)
        if not page.include_invalid:
            query = query.where(_CLIENT.c.is_valid)
        if page.name_contains is not None:
            if _unstorable(page.name_contains):
                return []
            query = query.where(
                func.lower(_CLIENT.c.name).contains(page.name_contains.lower(), autoescape=True)
            )
        if page.after_id is not None:
            query = query.where(_CLIENT.c.id > page.after_id)
        if page.limit is not None:
            query = query.limit(page.limit)
        return await self._assemble(await self._rows(query))

    async def record_use(self, uses: Mapping[int, datetime]) -> None:
        if not uses:
            return
        # Only ever forward: another node may have recorded a later use meanwhile. Not a
        # change of the client (no version bump, no announcement).
        table = ClientRow.__table__
        statement = (
            update(table)
            .where(
                table.c.id == bindparam("client_id"),
                or_(table.c.last_used_at.is_(None), table.c.last_used_at < bindparam("used")),
            )
            .values(last_used_at=bindparam("used"))
        )
        await self._s.execute(
            statement,
            [{"client_id": client_id, "used": at} for client_id, at in sorted(uses.items())],
        )

    async def count_valid(self, org_id: int) -> int:
        count = await self._s.scalar(
            select(func.count())
            .select_from(ClientRow)
            .where(ClientRow.org_id == org_id, ClientRow.is_valid)
        )
        return int(count or 0)

    async def name_in_use(self, org_id: int, name: str, *, except_id: int | None) -> bool:
        query = select(ClientRow.id).where(
            ClientRow.org_id == org_id, ClientRow.name == name, ClientRow.is_valid
        )
        if except_id is not None:
            query = query.where(ClientRow.id != except_id)
        return (await self._s.scalar(query.limit(1))) is not None

    async def _bump(self, client_id: int, expected_version: int, **values: object) -> bool:
        result = await self._s.execute(
            update(ClientRow)
            .where(ClientRow.id == client_id, ClientRow.version == expected_version)
            .values(version=ClientRow.version + 1, **values)
            .execution_options(synchronize_session=False)
        )
        changed = bool(getattr(result, "rowcount", 0))
        if changed:
            self._changes.clients.add(client_id)
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
    ) -> Client | None:
        changed = await self._bump(
            client_id,
            expected_version,
            name=name,
            description=description,
            expiration_token_time=expiration_token_time,
            default_till_id=default_till_id,
            updated_at=now,
            updated_by_id=actor_id,
        )
        if not changed:
            return None
        org_id = await self._s.scalar(select(ClientRow.org_id).where(ClientRow.id == client_id))
        await self._s.execute(delete(GrantRow).where(GrantRow.client_id == client_id))
        self._add_grants(client_id, int(org_id or 0), grants)
        await self._s.flush()
        return await self._fresh(client_id)

    async def invalidate(
        self, client_id: int, *, actor_id: int, now: datetime, expected_version: int
    ) -> Client | None:
        changed = await self._bump(
            client_id, expected_version, is_valid=False, updated_at=now, updated_by_id=actor_id
        )
        return await self._fresh(client_id) if changed else None

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
            secret_hash=secrets.current,
            previous_secret_hash=secrets.previous,
            previous_secret_expires_at=secrets.previous_expires_at,
            updated_at=now,
            updated_by_id=actor_id,
        )
        return await self._fresh(client_id) if changed else None

    async def _fresh(self, client_id: int) -> Client | None:
        row = await self._s.scalar(
            select(ClientRow)
            .where(ClientRow.id == client_id)
            .execution_options(populate_existing=True)
        )
        return await self._one(row)


class SqlSigningKeys:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def list(self) -> list[StoredKey]:
        rows = await self._s.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created_at))
        return [
            StoredKey(r.kid, r.algorithm, r.private_key, r.created_at, r.activates_at, r.retired_at)
            for r in rows
        ]

    async def add(self, key: StoredKey, public_jwk: dict[str, object]) -> None:
        self._s.add(
            SigningKeyRow(
                kid=key.kid,
                algorithm=key.algorithm,
                private_key=key.encrypted_private_key,
                public_jwk=public_jwk,
                created_at=key.created_at,
                activates_at=key.activates_at,
                retired_at=key.retired_at,
            )
        )
        await self._s.flush()

    async def replace_encrypted(self, kid: str, encrypted_private_key: str) -> None:
        await self._s.execute(
            update(SigningKeyRow)
            .where(SigningKeyRow.kid == kid)
            .values(private_key=encrypted_private_key)
        )

    async def retire(self, kid: str, at: datetime) -> bool:
        result = await self._s.execute(
            update(SigningKeyRow)
            .where(SigningKeyRow.kid == kid, SigningKeyRow.retired_at.is_(None))
            .values(retired_at=at)
        )
        return bool(getattr(result, "rowcount", 0))


class SqlRevocations:
    def __init__(self, session: AsyncSession, changes: Changes) -> None:
        self._s = session
        self._changes = changes

    async def add(self, jti: str, client_id: int, expires_at: datetime) -> None:
        if await self._s.get(RevokedTokenRow, jti) is None:
            self._s.add(RevokedTokenRow(jti=jti, client_id=client_id, expires_at=expires_at))
            await self._s.flush()
        self._changes.revoked[jti] = expires_at.timestamp()

    async def is_revoked(self, jti: str) -> bool:
        if _unstorable(jti):
            return False
        found = await self._s.scalar(select(RevokedTokenRow.jti).where(RevokedTokenRow.jti == jti))
        return found is not None

    async def unexpired(self, now: datetime) -> list[tuple[str, datetime]]:
        rows = await self._s.execute(
            select(RevokedTokenRow.jti, RevokedTokenRow.expires_at).where(
                RevokedTokenRow.expires_at > now
            )
        )
        return [(jti, expires) for jti, expires in rows]


class SqlAudit:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, event: AuditEvent) -> None:
        self._s.add(
            AuditRow(
                org_id=event.org_id,
                at=event.at,
                actor_id=event.actor.id if event.actor is not None else None,
                operator=event.operator,
                action=event.action,
                target_type=event.target_type,
                target=event.target,
                changes=event.changes,
                request_id=event.context.request_id,
                source_ip=event.context.source_ip,
            )
        )
        await self._s.flush()

    async def find(self, query: AuditQuery) -> list[AuditEvent]:
        statement = (
            select(AuditRow, PrincipalRow)
            .outerjoin(PrincipalRow, PrincipalRow.id == AuditRow.actor_id)
            .order_by(AuditRow.id.desc())
            .limit(query.limit)
        )
        if not query.everywhere:
            statement = statement.where(
                AuditRow.org_id == query.org_id
                if query.org_id is not None
                else AuditRow.org_id.is_(None)
            )
        texts = (query.target, query.actor_code, query.action)
        if any(text is not None and _unstorable(text) for text in texts):
            return []
        if query.target is not None:
            statement = statement.where(AuditRow.target == query.target)
        if query.actor_code is not None:
            statement = statement.where(
                or_(PrincipalRow.code == query.actor_code, AuditRow.operator == query.actor_code)
            )
        if query.action is not None:
            statement = statement.where(AuditRow.action == query.action)
        if query.since is not None:
            statement = statement.where(AuditRow.at >= query.since)
        if query.until is not None:
            statement = statement.where(AuditRow.at < query.until)
        if query.before_id is not None:
            statement = statement.where(AuditRow.id < query.before_id)
        rows = await self._s.execute(statement)
        return [
            AuditEvent(
                org_id=row.org_id,
                at=row.at,
                actor=_principal(actor) if actor is not None else None,
                operator=row.operator if actor is None else None,
                action=row.action,
                target_type=row.target_type,
                target=row.target,
                changes=row.changes,
                context=RequestContext(row.request_id, row.source_ip),
                id=row.id,
            )
            for row, actor in rows
        ]

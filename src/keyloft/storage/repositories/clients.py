"""API clients: their rows, grants and secret hashes, versioned for optimistic concurrency;
read as whole ``Client``s with their grants and the principals that made and changed them."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from keyloft.domain.certificate_names import CertificateName, NameKind
from keyloft.domain.client_keys import ClientKey, check_jwks, jwks_document
from keyloft.domain.clients import CLIENT_SECRET, NO_CREDENTIALS, Client, ClientCredentials
from keyloft.domain.federation import rules_from_stored
from keyloft.domain.governance import NO_GOVERNANCE, Governance, stored_allowlist
from keyloft.domain.scopes import Grant, Permission
from keyloft.services.ports import Changes, ClientPage, ClientSecrets
from keyloft.storage.repositories.rows import (
    ACTOR_COLUMNS,
    AnyRow,
    AnySelect,
    to_principal,
    unstorable,
)
from keyloft.storage.repositories.upsert import insert_for
from keyloft.storage.tables import ClientRow, CredentialUseRow, GrantRow, PrincipalRow

# Reads select plain rows (Core), not ORM instances: building an instance and its identity
# state per row cost more than the query itself for an org's list of clients.
_CLIENT = cast(Table, ClientRow.__table__)
_GRANT_COLUMNS = (GrantRow.client_id, GrantRow.entity_id, GrantRow.permission, GrantRow.resources)


@functools.lru_cache(maxsize=4096)
def _parsed_jwks(stored: str) -> tuple[ClientKey, ...]:
    # Loading a key is costly next to the rest of a row; clients are read far more often
    # than their keys change.
    return check_jwks(json.loads(stored))


@functools.lru_cache(maxsize=4096)
def _tls_name(kind: str | None, value: str | None) -> CertificateName | None:
    # A subject DN is parsed once per distinct name, not per read of its client.
    if kind is None or value is None:
        return None
    return CertificateName(NameKind(kind), value)


def _credentials(row: ClientRow | AnyRow) -> ClientCredentials:
    """The credentials stored on a client row (checked when they were written)."""
    tls_name = _tls_name(row.tls_client_auth_name_type, row.tls_client_auth_name)
    if (
        row.jwks is None
        and row.jwks_uri is None
        and not row.federated_credentials
        and tls_name is None
    ):
        return ClientCredentials()
    return ClientCredentials(
        jwks=_parsed_jwks(json.dumps(row.jwks, sort_keys=True)) if row.jwks is not None else (),
        jwks_uri=row.jwks_uri,
        federated=rules_from_stored(row.federated_credentials or ()),
        tls_name=tls_name,
    )


def _credential_columns(credentials: ClientCredentials) -> dict[str, object]:
    tls_name = credentials.tls_name
    return {
        "jwks": jwks_document(credentials.jwks) if credentials.jwks else None,
        "jwks_uri": credentials.jwks_uri,
        "federated_credentials": [rule.as_dict() for rule in credentials.federated] or None,
        "tls_client_auth_name_type": tls_name.kind.value if tls_name is not None else None,
        "tls_client_auth_name": tls_name.value if tls_name is not None else None,
    }


@functools.lru_cache(maxsize=4096)
def _allowlist(stored: str) -> Governance:
    return Governance(stored_allowlist(json.loads(stored)))


def _governance(row: ClientRow | AnyRow) -> Governance:
    """The governance stored on a client row (checked when it was written)."""
    per_minute = row.token_rate_limit_per_minute
    if not row.ip_allowlist:
        return Governance(tokens_per_minute=per_minute) if per_minute else NO_GOVERNANCE
    networks = _allowlist(json.dumps(row.ip_allowlist)).ip_allowlist
    return Governance(networks, per_minute)


def _governance_columns(governance: Governance) -> dict[str, object]:
    return {
        "ip_allowlist": governance.allowlist_strings or None,
        "token_rate_limit_per_minute": governance.tokens_per_minute,
    }


class SqlClients:
    """Implements ``keyloft.services.ports.ClientRepository``."""

    def __init__(self, session: AsyncSession, changes: Changes) -> None:
        self._s = session
        self._changes = changes

    async def _rows(self, query: AnySelect) -> list[AnyRow]:
        return list((await self._s.execute(query)).all())

    async def _assemble(self, rows: Sequence[ClientRow | AnyRow]) -> list[Client]:
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
            row.id: to_principal(row)
            for row in await self._rows(
                select(*ACTOR_COLUMNS).where(PrincipalRow.id.in_(actor_ids))
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
                auth_method=row.token_endpoint_auth_method,
                credentials=_credentials(row),
                dpop_bound=row.dpop_bound_access_tokens,
                certificate_bound=row.tls_client_certificate_bound_access_tokens,
                governance=_governance(row),
                mint_limit_hit_on=row.mint_limit_hit_at,
                secret_expires_at=row.secret_expires_at,
            )
            for row in rows
        ]

    async def _one(self, row: ClientRow | AnyRow | None) -> Client | None:
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
        row = ClientRow(
            secret_expires_at=secret_expires_at,
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
            token_endpoint_auth_method=auth_method,
            dpop_bound_access_tokens=dpop_bound,
            tls_client_certificate_bound_access_tokens=certificate_bound,
            **_credential_columns(credentials),
            **_governance_columns(governance),
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
        if unstorable(client_key):
            return None
        found = await self._rows(
            select(_CLIENT).where(_CLIENT.c.client_key == client_key, _CLIENT.c.org_id == org_id)
        )
        return await self._one(found[0] if found else None)

    async def credentials(self, client_key: str) -> tuple[Client, ClientSecrets] | None:
        if unstorable(client_key):
            return None
        return await self._with_secrets(select(_CLIENT).where(_CLIENT.c.client_key == client_key))

    async def credentials_by_id(self, client_id: int) -> tuple[Client, ClientSecrets] | None:
        return await self._with_secrets(select(_CLIENT).where(_CLIENT.c.id == client_id))

    async def _with_secrets(self, query: AnySelect) -> tuple[Client, ClientSecrets] | None:
        found = await self._rows(query)
        row = found[0] if found else None
        client = await self._one(row)
        if client is None or row is None:
            return None
        secrets = ClientSecrets(
            row.secret_hash,
            row.previous_secret_hash,
            row.previous_secret_expires_at,
            row.secret_expires_at,
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

    async def page(self, page: ClientPage) -> list[Client]:
        query = select(_CLIENT).where(_CLIENT.c.org_id == page.org_id).order_by(_CLIENT.c.id)
        if not page.include_invalid:
            query = query.where(_CLIENT.c.is_valid)
        if page.name_contains is not None:
            if unstorable(page.name_contains):
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
        statement = (
            update(_CLIENT)
            .where(
                _CLIENT.c.id == bindparam("client_id"),
                or_(_CLIENT.c.last_used_at.is_(None), _CLIENT.c.last_used_at < bindparam("used")),
            )
            .values(last_used_at=bindparam("used"))
        )
        await self._s.execute(
            statement,
            [{"client_id": client_id, "used": at} for client_id, at in sorted(uses.items())],
        )

    async def record_mint_limit_hits(self, hits: Mapping[int, datetime]) -> None:
        if not hits:
            return
        # Like record_use: forward only, not a change of the client.
        statement = (
            update(_CLIENT)
            .where(
                _CLIENT.c.id == bindparam("client_id"),
                or_(
                    _CLIENT.c.mint_limit_hit_at.is_(None),
                    _CLIENT.c.mint_limit_hit_at < bindparam("hit"),
                ),
            )
            .values(mint_limit_hit_at=bindparam("hit"))
        )
        await self._s.execute(
            statement,
            [{"client_id": client_id, "hit": at} for client_id, at in sorted(hits.items())],
        )

    async def record_credential_use(self, uses: Mapping[tuple[int, str], datetime]) -> None:
        if not uses:
            return
        table = cast(Table, CredentialUseRow.__table__)
        for (client_id, credential), at in sorted(uses.items()):
            statement = insert_for(self._s, CredentialUseRow).values(
                client_id=client_id, credential=credential, last_used_at=at
            )
            await self._s.execute(
                statement.on_conflict_do_update(
                    index_elements=["client_id", "credential"],
                    set_={"last_used_at": statement.excluded.last_used_at},
                    where=table.c.last_used_at < statement.excluded.last_used_at,
                )
            )

    async def credential_uses(self, client_id: int) -> dict[str, datetime]:
        rows = await self._rows(
            select(CredentialUseRow.credential, CredentialUseRow.last_used_at).where(
                CredentialUseRow.client_id == client_id
            )
        )
        return {credential: at for credential, at in rows}

    async def count_valid(self, org_id: int) -> int:
        count = await self._s.scalar(
            select(func.count())
            .select_from(ClientRow)
            .where(ClientRow.org_id == org_id, ClientRow.is_valid)
        )
        return int(count or 0)

    async def name_in_use(self, org_id: int, name: str, *, except_id: int | None) -> bool:
        if unstorable(name):
            return False
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
        auth_method: str = CLIENT_SECRET,
        credentials: ClientCredentials = NO_CREDENTIALS,
        secrets: ClientSecrets | None = None,
        dpop_bound: bool = False,
        certificate_bound: bool = False,
        governance: Governance = NO_GOVERNANCE,
    ) -> Client | None:
        secret_columns = (
            {
                "secret_hash": secrets.current,
                "previous_secret_hash": secrets.previous,
                "previous_secret_expires_at": secrets.previous_expires_at,
                "secret_expires_at": secrets.current_expires_at,
            }
            if secrets is not None
            else {}
        )
        changed = await self._bump(
            client_id,
            expected_version,
            name=name,
            description=description,
            expiration_token_time=expiration_token_time,
            default_till_id=default_till_id,
            updated_at=now,
            updated_by_id=actor_id,
            token_endpoint_auth_method=auth_method,
            dpop_bound_access_tokens=dpop_bound,
            tls_client_certificate_bound_access_tokens=certificate_bound,
            **_credential_columns(credentials),
            **_governance_columns(governance),
            **secret_columns,
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
            secret_expires_at=secrets.current_expires_at,
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

    # Last on purpose: in annotations below it, ``list`` would name this method.
    async def list(self, org_id: int, *, include_invalid: bool) -> list[Client]:
        return await self.page(ClientPage(org_id, include_invalid=include_invalid))
